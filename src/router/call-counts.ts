/**
 * Calls in progress per key (service, provider runtime), for caps that fail fast. Counts that drop
 * to zero stay in the map: deleting and re-adding a key on every call churns the hash table (measured
 * ~10× slower, with garbage). Zero entries are swept only once the map holds more than `sweepAbove`
 * keys, so keys of runtimes that ended cannot accumulate.
 */
export class CallCounts {
  private readonly counts = new Map<string, number>();

  constructor(private readonly sweepAbove = 4096) {}

  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  increment(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    if (this.counts.size > this.sweepAbove) this.sweep();
  }

  decrement(key: string): void {
    const n = this.counts.get(key);
    if (n !== undefined && n > 0) this.counts.set(key, n - 1);
  }

  private sweep(): void {
    for (const [key, n] of this.counts) if (n === 0) this.counts.delete(key);
  }
}
