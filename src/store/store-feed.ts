/**
 * The health of a shared store's change feed, for caches that must never outlive a change they
 * were not told about. A feed is healthy while its reader is connected, caught up, and has heard
 * from the store within `silenceMs` (the reader's blocking read returns at least every half of it,
 * events or not); anything else — a read error, a dropped connection, a full batch (lagging, or
 * the stream trimmed past it), a store reset, a new primary — breaks it: listeners drop what they
 * cached and read through until it is healthy again.
 */

/** A change the registration events do not carry: a credential or a runtime record changed or ended. */
export type FeedInvalidation = { kind: "credential"; id: string } | { kind: "runtime"; runtimeId: string };

export type FeedChange = FeedInvalidation | { kind: "broken"; reason: string };

export interface StoreFeed {
  /** True while every change made on any host is known to reach this host's listeners in time. */
  healthy(): boolean;
  /** Invalidations and breaks, as they happen; returns the unsubscribe. */
  onChange(listener: (change: FeedChange) => void): () => void;
}

/** The side the feed's reader (and the store) reports to. */
export interface FeedReporter extends StoreFeed {
  /** A read of the feed returned; `full` when it came back with as many entries as it asked for (more wait). */
  heard(full: boolean): void;
  broken(reason: string): void;
  invalidate(change: FeedInvalidation): void;
}

export function createFeedHealth(options: { silenceMs: number; now?: () => number; onListenerError?: (err: unknown) => void }): FeedReporter {
  const now = options.now ?? (() => performance.now());
  const listeners = new Set<(change: FeedChange) => void>();
  /** -Infinity until the first read returns: a new feed is not trusted yet. */
  let heardAt = Number.NEGATIVE_INFINITY;
  let lagging = false;
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
    healthy: () => !lagging && now() - heardAt <= options.silenceMs,
    onChange(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    heard(full) {
      heardAt = now();
      if (full && !lagging) {
        lagging = true;
        emit({ kind: "broken", reason: "event feed lagging" });
      } else if (!full) lagging = false;
    },
    broken(reason) {
      heardAt = Number.NEGATIVE_INFINITY;
      emit({ kind: "broken", reason });
    },
    invalidate: emit,
  };
}
