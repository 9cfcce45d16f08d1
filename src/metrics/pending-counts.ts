/**
 * Counts taken on a hot path (every routed call) and handed to a prom-client counter when it is
 * scraped (from its `collect`): a map lookup and an addition per event, instead of prom-client's
 * label validation and hashing. Totals are exact at every scrape. Keys are two label values; their
 * number is bounded by the caller (the labels it chooses are).
 */
export class PendingCounts {
  private readonly counts = new Map<string, Map<string, number>>();

  add(first: string, second: string): void {
    let inner = this.counts.get(first);
    if (inner === undefined) this.counts.set(first, (inner = new Map()));
    inner.set(second, (inner.get(second) ?? 0) + 1);
  }

  /** Hands over every count taken since the last drain. */
  drain(into: (first: string, second: string, count: number) => void): void {
    for (const [first, inner] of this.counts) {
      for (const [second, count] of inner) {
        if (count === 0) continue;
        inner.set(second, 0);
        into(first, second, count);
      }
    }
  }
}
