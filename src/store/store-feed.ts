/**
 * The health of a shared store's change feed, for caches that must never outlive a change they
 * were not told about. A feed is healthy while its reader is connected, caught up, and has heard
 * from the store within `silenceMs` (the reader's blocking read returns at least every half of it,
 * events or not); anything else — a read error, a dropped connection, a full batch (lagging, or
 * the stream trimmed past it), a store reset, a new primary — breaks it: listeners drop what they
 * cached and read through until it is healthy again.
 */

/** A change the registration events do not carry: a credential or a runtime record changed or ended. */
export type FeedInvalidation = { kind: "credential"; digest: string } | { kind: "runtime"; runtimeId: string };

export type FeedChange = FeedInvalidation | { kind: "broken"; reason: string };

export interface StoreFeed {
  /** True while every change made on any host is known to reach this host's listeners in time. */
  healthy(): boolean;
  /** Invalidations and breaks, as they happen; returns the unsubscribe. */
  onChange(listener: (change: FeedChange) => void): () => void;
}

/**
 * The side the feed's readers (and the store) report to. A feed read by several connections (one per
 * stream, or per Cluster slot) numbers them as `source` 0…sources−1: it is healthy only while every one is.
 */
export interface FeedReporter extends StoreFeed {
  /** A read of the feed returned; `full` when it came back with as many entries as it asked for (more wait). */
  heard(full: boolean, source?: number): void;
  /** A reader failed (`source`), or the whole feed is in doubt (no source: reset, new primary). */
  broken(reason: string, source?: number): void;
  invalidate(change: FeedInvalidation): void;
}

export function createFeedHealth(options: {
  silenceMs: number;
  /** How many readers feed it (default 1). */
  sources?: number;
  now?: () => number;
  onListenerError?: (err: unknown) => void;
}): FeedReporter {
  const now = options.now ?? (() => performance.now());
  const listeners = new Set<(change: FeedChange) => void>();
  const count = options.sources ?? 1;
  if (!Number.isInteger(count) || count < 1) throw new TypeError("feed sources must be a positive integer");
  /** Per source: -Infinity until its first read returns (a new feed is not trusted yet). */
  const heardAt = new Array<number>(count).fill(Number.NEGATIVE_INFINITY);
  const lagging = new Array<boolean>(count).fill(false);
  const emit = (change: FeedChange) => {
    for (const listener of [...listeners]) {
      try {
        listener(change);
      } catch (err) {
        options.onListenerError?.(err);
      }
    }
  };
  return {
    healthy() {
      const at = now();
      for (let i = 0; i < count; i++) if (lagging[i] || at - heardAt[i]! > options.silenceMs) return false;
      return true;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    heard(full, source = 0) {
      heardAt[source] = now();
      if (full && !lagging[source]) {
        lagging[source] = true;
        emit({ kind: "broken", reason: "event feed lagging" });
      } else if (!full) lagging[source] = false;
    },
    broken(reason, source) {
      if (source === undefined) heardAt.fill(Number.NEGATIVE_INFINITY);
      else heardAt[source] = Number.NEGATIVE_INFINITY;
      emit({ kind: "broken", reason });
    },
    invalidate: emit,
  };
}
