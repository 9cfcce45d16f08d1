/**
 * Once per `vitest run`: builds dist/ (the package tests import the built package), gives the run one
 * temp parent dir (TMPDIR, inherited by workers and every process they spawn), and at the end fails
 * the run if a process of this checkout or a temp file of the run is left behind (and then removes
 * them). Processes are matched by command line, so two runs of one checkout at once would see each
 * other's: run one at a time per checkout.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { findLeftoverProcesses, type ProcessInfo } from "./helpers/leftovers.js";

const ROOT = resolve(import.meta.dirname, "..");
/** Processes get this long to finish exiting (plugins notice a killed host through their watchdog). */
const LEFTOVER_GRACE_MS = 10_000;
/** tsx keeps its transform cache in TMPDIR; it is the tool's, not a test's, and goes with the run dir. */
const TOOL_CACHES = /^tsx-\d+$/;

export default function setup(): () => Promise<void> {
  execFileSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", join(ROOT, "tsconfig.build.json")], {
    cwd: ROOT,
    stdio: "inherit",
  });
  // The dashboard's plain files, as `npm run build` ships them.
  execFileSync(process.execPath, [join(ROOT, "scripts/copy-assets.mjs")], { cwd: ROOT, stdio: "inherit" });
  const runDir = realpathSync(mkdtempSync(join(tmpdir(), "plugboard-test-run-")));
  process.env["TMPDIR"] = runDir;
  process.env["PLUGBOARD_TEST_RUN_DIR"] = runDir;

  return async function teardown() {
    let processes: ProcessInfo[] = [];
    try {
      processes = await waitForNoLeftovers(runDir);
      const files = readdirSync(runDir).filter((name) => !TOOL_CACHES.test(name));
      const problems = [
        ...processes.map((p) => `process ${p.pid} (ppid ${p.ppid}) still running: ${p.args}`),
        ...files.map((f) => `temp entry left by a test: ${join(runDir, f)}`),
      ];
      if (problems.length > 0) {
        process.exitCode = 1;
        throw new Error(`the test run left things behind:\n  ${problems.join("\n  ")}`);
      }
    } finally {
      // Reported above; now gone, so a failed run does not leave them either.
      for (const p of processes) killQuietly(p.pid);
      rmSync(runDir, { recursive: true, force: true });
    }
  };
}

async function waitForNoLeftovers(runDir: string) {
  const deadline = Date.now() + LEFTOVER_GRACE_MS;
  for (;;) {
    const left = findLeftoverProcesses({ needles: [ROOT + "/", runDir], runnerPid: process.pid });
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 250));
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}
