import type { ResolvedSpec } from "./spec.js";

/**
 * Restart bookkeeping for one plugin: exponential delays, and the give-up threshold
 * (more than `maxRestarts` restarts within `windowMs`).
 */
export function createRestartTracker(policy: ResolvedSpec["restart"], now: () => number = Date.now) {
  const recent: number[] = [];
  let consecutive = 0;
  return {
    /** Records a restart about to happen; undefined means give up, else the delay before it. */
    next(): number | undefined {
      const t = now();
      while (recent.length > 0 && t - (recent[0] as number) > policy.windowMs) recent.shift();
      if (recent.length >= policy.maxRestarts) return undefined;
      recent.push(t);
      const delay = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** consecutive);
      consecutive++;
      return delay;
    },
    /** A run that stayed up resets the backoff (not the give-up window). */
    stable() {
      consecutive = 0;
    },
  };
}

/** Whether an exit the launcher did not ask for calls for a restart. */
export function shouldRestart(
  policy: ResolvedSpec["restart"]["policy"],
  exit: { code: number | null; signal: string | null },
  noRestartExitCodes: readonly number[] = [],
): boolean {
  // A command that cannot be spawned (missing, not executable) will not start on a retry either,
  // nor will a plugin that said it was refused (runPlugin exits 2: cookie, launch secret, missing secret).
  if (policy === "never" || exit.code === -1) return false;
  if (exit.code !== null && noRestartExitCodes.includes(exit.code)) return false;
  if (policy === "always") return true;
  return exit.code !== 0 || exit.signal !== null;
}
