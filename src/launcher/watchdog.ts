import { LAUNCH_ENV } from "./env.js";

export interface ParentWatchdogOptions {
  /** Default env PLUGBOARD_PARENT_PID; without one the watchdog does nothing. */
  parentPid?: number;
  /** Default 250 ms: a plugin leaves well within a second of its host's death. */
  intervalMs?: number;
  /** What to do once the host is gone. Default: exit the process (code 0). */
  onParentGone?: () => void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else (the pid was reused): our host is gone all the same.
    return (e as NodeJS.ErrnoException).code !== "ESRCH" && (e as NodeJS.ErrnoException).code !== "EPERM";
  }
}

/**
 * For plugin processes: a host killed with SIGKILL cannot stop its plugins (they run in their own
 * process group), so each plugin watches its host and leaves when it is gone: the parent pid
 * changes (re-parented to init/subreaper) or the host pid no longer exists.
 * Returns a function that stops watching. The timer never keeps the process alive.
 */
export function startParentWatchdog(options: ParentWatchdogOptions = {}): () => void {
  const fromEnv = Number(process.env[LAUNCH_ENV.parentPid]);
  const parentPid = options.parentPid ?? (Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : undefined);
  if (parentPid === undefined) return () => undefined;
  const intervalMs = options.intervalMs ?? 250;
  const onParentGone = options.onParentGone ?? (() => process.exit(0));
  // Started by a launcher, our parent is the host; a wrapper (a shell, npx) would be the parent instead.
  const initialPpid = process.ppid;
  const watchesDirectParent = initialPpid === parentPid;
  let fired = false;
  const timer = setInterval(() => {
    const gone = (watchesDirectParent && process.ppid !== initialPpid) || !alive(parentPid);
    if (gone && !fired) {
      fired = true;
      clearInterval(timer);
      onParentGone();
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
