import { spawn, type ChildProcess } from "node:child_process";

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why the process could not be spawned (code -1), e.g. "spawn /opt/x ENOENT". */
  spawnError?: string;
}

/** A child process leading its own process group, so the whole group can be signalled at once. */
export interface GroupProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves once, when the leader has exited (or failed to spawn: code -1). */
  readonly exited: Promise<ExitInfo>;
  readonly hasExited: () => boolean;
  /** Signals every process of the group; false when there is none left. */
  signal(signal: NodeJS.Signals): boolean;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves when the leader is gone. */
  stop(graceMs: number): Promise<ExitInfo>;
}

export interface SpawnGroupOptions {
  command: string;
  args: string[];
  cwd: string | undefined;
  env: Record<string, string>;
}

/** Spawns detached (its own process group) with stdin closed and stdout/stderr piped. */
export function spawnGroup(options: SpawnGroupOptions): GroupProcess {
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    windowsHide: true,
  });
  let done = false;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once("exit", (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
    child.once("error", (error: NodeJS.ErrnoException) => {
      // spawn failure (ENOENT, EACCES): no 'exit' follows.
      if (child.pid === undefined) {
        done = true;
        resolve({ code: -1, signal: null, spawnError: error.message });
      }
    });
  });
  const pid = child.pid ?? -1;
  const signal = (sig: NodeJS.Signals): boolean => {
    if (pid <= 0) return false;
    try {
      process.kill(-pid, sig);
      return true;
    } catch {
      return false; // ESRCH: the group is gone
    }
  };
  return {
    pid,
    child,
    exited,
    hasExited: () => done,
    signal,
    async stop(graceMs) {
      if (!done) signal("SIGTERM");
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          signal("SIGKILL");
          resolve();
        }, graceMs);
      });
      const info = await Promise.race([exited, killed.then(() => exited)]);
      clearTimeout(timer);
      // Leftover members of the group (the plugin's own children) go with their leader.
      signal("SIGKILL");
      return info;
    },
  };
}
