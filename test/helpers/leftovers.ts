import { execFileSync } from "node:child_process";

export interface ProcessInfo {
  pid: number;
  ppid: number;
  args: string;
}

export function listProcesses(): ProcessInfo[] {
  const out = execFileSync("ps", ["-A", "-o", "pid=,ppid=,args="], { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
  return out
    .split("\n")
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3]! }));
}

/**
 * Processes whose command line names one of `needles` (the checkout, the run's temp dir), except
 * the test runner, its ancestors (npm, the shell) and the runner's own vitest workers.
 */
export function findLeftoverProcesses(opts: { needles: string[]; runnerPid: number }): ProcessInfo[] {
  const all = listProcesses();
  const byPid = new Map(all.map((p) => [p.pid, p]));
  const ancestors = new Set<number>();
  for (let p = byPid.get(opts.runnerPid); p && !ancestors.has(p.pid); p = byPid.get(p.ppid)) ancestors.add(p.pid);
  const descendsFromRunner = (p: ProcessInfo): boolean => {
    const seen = new Set<number>();
    for (let q: ProcessInfo | undefined = p; q && !seen.has(q.pid); q = byPid.get(q.ppid)) {
      if (q.ppid === opts.runnerPid) return true;
      seen.add(q.pid);
    }
    return false;
  };
  const isRunnerWorker = (p: ProcessInfo) => descendsFromRunner(p) && /node_modules\/(vitest|tinypool)\//.test(p.args);
  return all.filter(
    (p) => !ancestors.has(p.pid) && !isRunnerWorker(p) && !p.args.startsWith("ps ") && opts.needles.some((n) => p.args.includes(n)),
  );
}
