/**
 * Every process the benchmark starts runs in its own process group (so a wrapper and whatever it
 * forks die together) and is remembered here with the temp dirs and other clean-ups, so a normal
 * end, a failure and Ctrl-C all leave nothing behind.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../test/helpers/free-port.js";
export { freePort };

const groups = new Set<ChildProcess>();
const dirs = new Set<string>();
const cleanups: (() => Promise<void> | void)[] = [];

const haveTaskset = spawnSync("taskset", ["-c", "0", "true"]).status === 0;

/** Core to pin a process to: the proxy measured gets core 1, the load generator and upstream core 0. */
export type Core = 0 | 1 | undefined;

/** Whether pinning works here (taskset present, two cores); reported in the bench header. */
export const pinning = haveTaskset;

/** spawn() in a new process group, pinned to `core` when taskset exists (taskset execs: the pid is the program's). */
export function spawnGroup(command: string, args: readonly string[], core: Core, options: SpawnOptions = {}): ChildProcess {
  const [cmd, argv] = core !== undefined && haveTaskset ? ["taskset", ["-c", String(core), command, ...args]] : [command, [...args]];
  const child = spawn(cmd, argv, { stdio: ["pipe", "pipe", "inherit"], ...options, detached: true });
  groups.add(child);
  child.once("exit", () => groups.delete(child));
  return child;
}

function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILLs the child's whole group and waits (bounded) until no member is left. */
export async function killGroup(child: ChildProcess): Promise<void> {
  groups.delete(child);
  if (child.pid === undefined) return;
  signalGroup(child.pid, "SIGKILL");
  const deadline = Date.now() + 5_000;
  while (signalGroup(child.pid, 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/** A temp dir removed at the end whatever happens. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

export function removeDir(dir: string): void {
  dirs.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}

/** Runs at the end (last registered first), on failure and on Ctrl-C too. */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

/**
 * Runs the registered clean-ups one by one, last registered first (a watcher before its host), bounded
 * to 15 s in all; then kills every group left and removes every dir left. Called after each part of
 * the run (so idle children do not linger into the next), at the end, on failure and on signals.
 */
export async function cleanupAll(): Promise<void> {
  const all = cleanups.splice(0).reverse();
  const inOrder = (async () => {
    for (const fn of all) await Promise.resolve().then(fn).catch(() => undefined);
  })();
  await Promise.race([inOrder, new Promise((r) => setTimeout(r, 15_000).unref())]);
  await Promise.all([...groups].map(killGroup));
  for (const dir of [...dirs]) removeDir(dir);
}

// Last resort, synchronous: whatever is still running when this process exits.
process.once("exit", () => {
  for (const child of groups) if (child.pid !== undefined) signalGroup(child.pid, "SIGKILL");
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
/** For the bench's entry point: Ctrl-C (or a kill) cleans up before exiting. */
export function cleanupOnSignals(): void {
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      console.error(`\nbench: ${signal}, cleaning up`);
      void cleanupAll().finally(() => process.exit(130));
    });
  }
}


const TICK_US = 1e6 / Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim() || 100);

/**
 * CPU time of a process (all its live threads) in µs; 0 once it is gone. From each thread's
 * /proc/<pid>/task/<tid>/schedstat (nanoseconds): /proc/<pid>/stat counts in clock ticks (10 ms), which
 * for a 3000-call round of ~120 µs calls is a ±3 % step on each reading. Falls back to /proc/<pid>/stat
 * where the kernel keeps no schedstat.
 */
export function processCpuMicros(pid: number): number {
  try {
    let nanos = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) nanos += schedstatNanos(`/proc/${pid}/task/${tid}/schedstat`);
    if (nanos > 0) return nanos / 1000;
    return cpuMicrosOfStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return 0;
  }
}

/** The first field of a schedstat file (time spent on a CPU, ns); 0 for a thread that ended meanwhile. */
function schedstatNanos(file: string): number {
  try {
    return Number(readFileSync(file, "utf8").split(" ")[0]) || 0;
  } catch {
    return 0;
  }
}

/** Fields 14 and 15 of /proc/<pid>/stat (counted after the parenthesised command name, which may hold spaces). */
export function cpuMicrosOfStat(stat: string, tickMicros = TICK_US): number {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return (Number(fields[11]) + Number(fields[12])) * tickMicros;
}

/** Pids whose parent is `pid` (nginx's workers). */
export function childPids(pid: number): number[] {
  const out = spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" });
  return out.stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map(Number);
}
