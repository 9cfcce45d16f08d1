/**
 * The one way tests start processes. Each child gets its own process group, so the whole tree
 * (e.g. the `tsx` wrapper AND the node process it runs) can be killed at once: a signal sent to
 * the wrapper alone leaves its child running with ppid 1. Every group spawned here is killed at
 * the end of the test file (cleanup.setup.ts), whether the test passed, failed or timed out.
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { createInterface } from "node:readline";
import { resolve } from "node:path";

export const TSX = resolve(import.meta.dirname, "../../node_modules/.bin/tsx");

const spawned = new Set<ChildProcess>();

/** spawn() in a new process group, remembered until its group is killed. */
export function spawnGroup(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...options, detached: true });
  spawned.add(child);
  return child;
}

function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false; // ESRCH: the group is gone
  }
}

/**
 * Kills the child's whole process group and waits until no member is left. With `graceMs`, first
 * sends SIGTERM to the child alone (tsx relays it) and gives it that long to exit cleanly.
 */
export async function killGroup(child: ChildProcess, opts: { graceMs?: number } = {}): Promise<void> {
  const pid = child.pid;
  spawned.delete(child);
  if (pid === undefined) return;
  if (opts.graceMs && child.exitCode === null && child.signalCode === null) {
    child.kill("SIGTERM");
    await Promise.race([exitOf(child), new Promise((r) => setTimeout(r, opts.graceMs))]);
  }
  signalGroup(pid, "SIGKILL");
  const deadline = Date.now() + 5_000;
  while (signalGroup(pid, 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/** Kills every group this test file spawned and has not killed yet. */
export async function killAllGroups(): Promise<void> {
  await Promise.all([...spawned].map((child) => killGroup(child)));
}

// Last resort when the worker exits without running afterAll (e.g. the run is interrupted).
process.once("exit", () => {
  for (const child of spawned) if (child.pid !== undefined) signalGroup(child.pid, "SIGKILL");
});

/** Runs a TypeScript entry point as a real child process in its own group. */
export function spawnTs(file: string, args: string[] = [], env: Record<string, string> = {}, options: SpawnOptions = {}): ChildProcess {
  return spawnGroup(TSX, [file, ...args], { ...options, env: { ...process.env, ...env } });
}

/**
 * Resolves with the first stdout line the predicate accepts; rejects if the process exits first.
 * On timeout the process group is killed before rejecting.
 */
export function waitForLine(child: ChildProcess, accept: (line: string) => boolean, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const stderr: string[] = [];
    child.stderr?.on("data", (d: Buffer) => stderr.push(d.toString()));
    const timer = setTimeout(() => {
      void killGroup(child).finally(() => reject(new Error(`no matching line within ${timeoutMs} ms; stderr: ${stderr.join("")}`)));
    }, timeoutMs);
    lines.on("line", (line) => {
      if (accept(line)) {
        clearTimeout(timer);
        resolvePromise(line);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`process exited with ${code} before the line; stderr: ${stderr.join("")}`));
    });
  });
}

export function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((r) => child.once("exit", (code) => r(code)));
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion in its own group and collects its output. Whatever it leaves in
 * its group is killed when it exits; after `timeoutMs` the group is killed and the code is null.
 */
export function runCommand(
  command: string,
  args: readonly string[],
  opts: { env?: Record<string, string>; input?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    const child = spawnGroup(command, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdin!.end(opts.input ?? "");
    const timer = setTimeout(() => void killGroup(child), opts.timeoutMs ?? 60_000);
    child.once("close", (code) => {
      clearTimeout(timer);
      void killGroup(child).then(() => resolvePromise({ code, stdout, stderr }));
    });
  });
}

/** Runs a TypeScript entry point to completion (see runCommand). */
export function run(file: string, args: string[], env: Record<string, string> = {}, input?: string): Promise<RunResult> {
  return runCommand(TSX, [file, ...args], { env, ...(input === undefined ? {} : { input }) });
}
