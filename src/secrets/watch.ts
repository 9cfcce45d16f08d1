import { createHash } from "node:crypto";
import type { SecretNeed, SecretValue } from "./types.js";

/** How often a watched secret is read again, and how much each wait varies so watchers do not move in step. */
export interface SecretWatchOptions {
  /** Default 30 s. With a caching provider, a change shows once the cache refreshes too. */
  refreshIntervalMs?: number;
  /** Each wait is the interval ± this fraction of it, at random. Default 0.1. */
  jitter?: number;
}

export const DEFAULT_SECRET_WATCH = { refreshIntervalMs: 30_000, jitter: 0.1 } as const;

/** Fills in defaults; a mistake fails when the host is created, not at the first watch. */
export function resolveSecretWatch(options: SecretWatchOptions = {}): Required<SecretWatchOptions> {
  const { refreshIntervalMs, jitter } = { ...DEFAULT_SECRET_WATCH, ...options };
  if (typeof refreshIntervalMs !== "number" || !(refreshIntervalMs >= 10))
    throw new TypeError("secrets.watch.refreshIntervalMs must be a number of milliseconds, at least 10");
  if (typeof jitter !== "number" || !(jitter >= 0 && jitter < 1)) throw new TypeError("secrets.watch.jitter must be a fraction from 0 to below 1");
  return { refreshIntervalMs, jitter };
}

export interface WatchedSecret extends SecretValue {
  stale: boolean;
}

export interface SecretChanges {
  secrets: WatchedSecret[];
  removed: string[];
  initial: boolean;
}

export interface SecretChangeSource {
  /** The first round: every secret the caller may read now, failing as GetSecrets does. */
  readAll(): Promise<SecretValue[]>;
  /** Of the watched needs, those the caller may still read (policy is asked again every round). */
  allowed(): readonly SecretNeed[];
  /** One secret, as the provider has it now. */
  read(need: SecretNeed): Promise<SecretValue>;
  intervalMs: number;
  jitter: number;
  signal: AbortSignal;
  random?: () => number;
}

/** What identifies a secret's content: its version, or a digest of the value when the backend has no versions. */
function revision(secret: SecretValue): string {
  return secret.version !== "" ? `v:${secret.version}` : `h:${createHash("sha256").update(secret.value).digest("hex")}`;
}

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * The stream behind SecretsService.WatchSecrets: the full current state first, then, every
 * refresh, only what changed — a new version, a secret that could not be read (its last good
 * value, marked stale) or could be read again, and names the policy no longer allows.
 */
export async function* secretChanges(source: SecretChangeSource): AsyncGenerator<SecretChanges> {
  const random = source.random ?? Math.random;
  const sent = new Map<string, { revision: string; stale: boolean; last: SecretValue }>();
  const first = await source.readAll();
  for (const s of first) sent.set(s.name, { revision: revision(s), stale: false, last: s });
  yield { secrets: first.map((s) => ({ ...s, stale: false })), removed: [], initial: true };

  while (!source.signal.aborted) {
    await wait(source.intervalMs * (1 + source.jitter * (2 * random() - 1)), source.signal);
    if (source.signal.aborted) return;
    const allowed = source.allowed();
    const allowedNames = new Set(allowed.map((n) => n.name));
    const removed = [...sent.keys()].filter((name) => !allowedNames.has(name));
    for (const name of removed) sent.delete(name);
    const changed: WatchedSecret[] = [];
    for (const need of allowed) {
      const before = sent.get(need.name);
      try {
        const now = await source.read(need);
        const rev = revision(now);
        if (before && before.revision === rev && !before.stale) continue;
        sent.set(need.name, { revision: rev, stale: false, last: now });
        changed.push({ ...now, stale: false });
      } catch {
        // An outage keeps the last good value; the watcher is told once that it is stale.
        if (!before || before.stale) continue;
        before.stale = true;
        changed.push({ ...before.last, stale: true });
      }
    }
    if (changed.length > 0 || removed.length > 0) yield { secrets: changed, removed, initial: false };
  }
}
