/**
 * Issue 20, case 6: a launched plugin never outlives its dead host. Exit must not depend on a log
 * write succeeding (a broken stdout pipe made pino retry forever), and the watchdog must act in
 * every phase of a plugin's life, start-up included.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { exitOf, killGroup, spawnGroup } from "../../helpers/processes.js";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`../../fixtures/lifecycle/${name}`, import.meta.url));

/** Pids of processes whose command line carries `marker`. */
function processesWith(marker: string): number[] {
  const out = execFileSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" });
  return out
    .split("\n")
    .filter((line) => line.includes(marker) && !line.includes("ps -eo"))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

async function waitUntil(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("launched plugins never outlive a dead host", () => {
  it("a process logging with the SDK's default logger to a broken stdout pipe still exits", async () => {
    const child = spawnGroup(process.execPath, ["--import", "tsx", fixture("broken-stdout.ts")], { cwd: REPO_ROOT, stdio: ["pipe", "pipe", "pipe"] });
    try {
      const stderr = createInterface({ input: child.stderr! });
      await new Promise<void>((resolve, reject) => {
        stderr.on("line", (line) => line === "READY" && resolve());
        child.once("exit", () => reject(new Error("fixture exited before READY")));
      });
      child.stdout!.destroy(); // the pipe's reader (the host) is gone
      child.stdin!.end(); // now log and exit
      const exited = await Promise.race([exitOf(child), new Promise<"stuck">((r) => setTimeout(() => r("stuck"), 10_000))]);
      expect(exited).toBe(0);
    } finally {
      await killGroup(child);
    }
  });

  it("killing the host at random points of its plugins' start-up and serving leaves no orphan (20 rounds)", async () => {
    const orphans: { round: number; phase: string; pids: number[] }[] = [];
    // Rounds run ROUNDS_AT_ONCE at a time; round i kills the host in phase i % 4, after a random jitter, so
    // every phase is hit 5 times at random points without waiting seconds for a uniformly random one.
    const next = { round: 0 };
    const worker = async () => {
      for (let round = next.round++; round < ROUNDS; round = next.round++) {
        const phase = PHASES[round % PHASES.length]!;
        const left = await killRound(phase);
        if (left.length > 0) orphans.push({ round, phase: phase.name, pids: left });
      }
    };
    await Promise.all(Array.from({ length: ROUNDS_AT_ONCE }, worker));
    expect(orphans).toEqual([]);
  }, 300_000);
});

const ROUNDS = 20;
const ROUNDS_AT_ONCE = 4;

/**
 * Where in the plugins' lives the host dies: the host prints HOST_READY once listening, PLUGIN_PID as
 * each of its 3 plugins is ready (tsx load, handshake and registration done), ALL_READY when all are.
 * The kill lands a random 0..jitterMs after the phase's line: inside the next stretch of start-up, or serving.
 */
const PHASES = [
  { name: "plugins loading", after: "HOST_READY", count: 1, jitterMs: 1_000 },
  { name: "one plugin ready", after: "PLUGIN_PID", count: 1, jitterMs: 300 },
  { name: "two plugins ready", after: "PLUGIN_PID", count: 2, jitterMs: 300 },
  { name: "serving", after: "ALL_READY", count: 1, jitterMs: 1_000 },
] as const;

/** One round: start the host fixture, SIGKILL it in `phase`, and return the pids of its plugins still running. */
async function killRound(phase: (typeof PHASES)[number]): Promise<number[]> {
  const marker = `pb-orphan-${randomUUID()}`;
  const host = spawnGroup(process.execPath, [fixture("orphan-host.mjs"), marker], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "inherit"] });
  try {
    const lines = createInterface({ input: host.stdout! });
    let seen = 0;
    await new Promise<void>((resolve, reject) => {
      lines.on("line", (line) => {
        if (line.split(" ")[0] === phase.after && ++seen === phase.count) resolve();
      });
      host.once("exit", () => reject(new Error(`host exited before ${phase.after} ×${phase.count}`)));
    });
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * phase.jitterMs)));
    process.kill(host.pid!, "SIGKILL"); // the host alone: its plugins run in their own groups
    await exitOf(host);
    // Generous bound: a plugin whose exit is blocked never leaves, however long we wait.
    await waitUntil("the plugins to exit", () => processesWith(marker).length === 0, 15_000).catch(() => undefined);
    const left = processesWith(marker);
    for (const pid of left) process.kill(pid, "SIGKILL");
    return left;
  } finally {
    await killGroup(host);
  }
}
