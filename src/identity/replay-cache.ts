/**
 * Bounded memory of seen JWT IDs, each kept until its token expires. When full
 * of live entries it refuses new ones ("full") instead of forgetting old ones:
 * forgetting would reopen the replay window it exists to close.
 */
import { createHash } from "node:crypto";

export type ReplayVerdict = "fresh" | "replayed" | "full";

export interface ReplayCache {
  /** Records `key` until `expiresAtMs`; says whether it was already seen. */
  claim(key: string, expiresAtMs: number, nowMs?: number): ReplayVerdict;
  readonly size: number;
}

export interface ReplayCacheOptions {
  /** Default 100 000 entries (~10 MB). */
  maxEntries?: number;
  /** How often expired entries are swept even when not full. Default 60 s. */
  sweepIntervalMs?: number;
}

export function createReplayCache(opts: ReplayCacheOptions = {}): ReplayCache {
  const maxEntries = opts.maxEntries ?? 100_000;
  const sweepIntervalMs = opts.sweepIntervalMs ?? 60_000;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError("replay cache: maxEntries must be a positive integer");
  const expiries = new Map<string, number>();
  let lastSweep = 0;

  const sweep = (now: number): void => {
    lastSweep = now;
    for (const [key, expiresAt] of expiries) if (expiresAt <= now) expiries.delete(key);
  };

  return {
    claim(key, expiresAtMs, nowMs = Date.now()) {
      // Hashing bounds the memory per entry whatever the ID length.
      const digest = createHash("sha256").update(key).digest("base64url");
      if (nowMs - lastSweep >= sweepIntervalMs) sweep(nowMs);
      const seen = expiries.get(digest);
      if (seen !== undefined && seen > nowMs) return "replayed";
      if (seen === undefined && expiries.size >= maxEntries) {
        sweep(nowMs);
        if (expiries.size >= maxEntries) return "full";
      }
      expiries.set(digest, expiresAtMs);
      return "fresh";
    },
    get size() {
      return expiries.size;
    },
  };
}
