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
    await new Promise((r) => setTimeout(r, 50));
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
    const orphans: number[][] = [];
    for (let round = 0; round < 20; round++) {
      const marker = `pb-orphan-${randomUUID()}`;
      const host = spawnGroup(process.execPath, ["--import", "tsx", fixture("host.ts"), marker], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "inherit"] });
      try {
        const lines = createInterface({ input: host.stdout! });
        const ready = new Promise<void>((resolve, reject) => {
          lines.on("line", (line) => line === "HOST_READY" && resolve());
          host.once("exit", () => reject(new Error("host exited before it was ready")));
        });
        await ready;
        // Somewhere in the plugins' start-up (tsx load, handshake, registration) or serving.
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 3_000)));
        process.kill(host.pid!, "SIGKILL"); // the host alone: its plugins run in their own groups
        await exitOf(host);
        // Generous bound: a plugin whose exit is blocked never leaves, however long we wait.
        await waitUntil(`round ${round}'s plugins to exit`, () => processesWith(marker).length === 0, 10_000).catch(() => undefined);
        const left = processesWith(marker);
        if (left.length > 0) {
          orphans.push(left);
          for (const pid of left) process.kill(pid, "SIGKILL");
        }
      } finally {
        await killGroup(host);
      }
    }
    expect(orphans).toEqual([]);
  }, 300_000);
});
