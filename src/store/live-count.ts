/**
 * How many runtimes are live (expiry in the future), kept up to date by the memory store's writes so
 * admission's count is O(1) rather than a scan of every runtime per handshake. The count is trusted
 * until the earliest expiry among the runtimes it counted; past it, one scan recounts.
 */
export interface LiveCount {
  /** A runtime's expiry changed from `before` (undefined: it was absent) to `after` (undefined: removed). */
  changed(before: number | undefined, after: number | undefined, now: number): void;
  count(now: number, scan: () => Iterable<number>): number;
}

export function createLiveCount(): LiveCount {
  let live = 0;
  /** Until when `live` holds without a rescan; 0: never counted. */
  let validUntil = 0;
  return {
    changed(before, after, now) {
      if (now >= validUntil) return; // stale anyway: the next count rescans
      const was = before !== undefined && before > now ? 1 : 0;
      const is = after !== undefined && after > now ? 1 : 0;
      live += is - was;
      if (is) validUntil = Math.min(validUntil, after!);
    },
    count(now, scan) {
      if (now < validUntil) return live;
      live = 0;
      validUntil = Number.POSITIVE_INFINITY;
      for (const expiresAt of scan()) {
        if (expiresAt <= now) continue;
        live++;
        validUntil = Math.min(validUntil, expiresAt);
      }
      return live;
    },
  };
}
