import { Code, ConnectError } from "@connectrpc/connect";

/**
 * Takes one item straight away; returns false when it can take no more until the queue's
 * `resume()` is called (a stream's write buffer is full: the consumer is not keeping up).
 */
export type QueueSink<T> = (item: T) => boolean;

/**
 * A bounded queue feeding one server stream. When the consumer falls more than
 * `limit` items behind, the stream ends with ResourceExhausted: a watcher is cut
 * off loudly rather than silently missing events.
 *
 * The consumer either pulls (`drain`, an async iterable: the stream's framework writes each item)
 * or is a sink the queue pushes into (`forward`: the items are written as they come, with no
 * per-item promise); either way an item waits here only while the consumer cannot take it.
 */
export class BoundedQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiting: (() => void) | undefined;
  private failure: ConnectError | undefined;
  private done = false;
  private sink: QueueSink<T> | undefined;
  /** The sink refused more (its last call returned false) and was not resumed since. */
  private blocked = false;

  constructor(private readonly limit: number) {}

  push(item: T): void {
    if (this.done || this.failure) return;
    if (this.sink && !this.blocked) {
      // Nothing is queued while the sink takes items: it gets them in order.
      this.blocked = !this.sink(item);
      return;
    }
    if (this.items.length >= this.limit) {
      this.fail(new ConnectError(`watcher fell more than ${this.limit} events behind; watch again`, Code.ResourceExhausted));
      return;
    }
    this.items.push(item);
    this.wake();
  }

  fail(error: ConnectError): void {
    this.failure ??= error;
    this.wake();
  }

  end(): void {
    this.done = true;
    this.wake();
  }

  private wake(): void {
    const resolve = this.waiting;
    this.waiting = undefined;
    resolve?.();
  }

  /**
   * From now on hands the items to `sink` (those queued first), in order, while it takes them;
   * once it refuses one, later items queue (up to the limit) until `resume()`. Resolves when the
   * queue ends, rejects with its failure. For one consumer: not with `drain`.
   */
  async forward(sink: QueueSink<T>): Promise<void> {
    this.sink = sink;
    this.resume();
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.done) return;
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }

  /** The sink can take items again (its stream drained): it gets the queued ones while it takes them. */
  resume(): void {
    const sink = this.sink;
    if (!sink || this.failure || this.done) return;
    this.blocked = false;
    while (!this.blocked && this.items.length > 0) this.blocked = !sink(this.items.shift()!);
  }

  /**
   * The items as they come, through `map` (undefined skips an item). A plain iterator rather than an
   * async generator: one event reaching a thousand streams pays no generator machinery per stream.
   */
  drain<U>(map: (item: T) => U | undefined): AsyncIterable<U> {
    const next = async (): Promise<IteratorResult<U>> => {
      for (;;) {
        if (this.failure) throw this.failure;
        const item = this.items.shift();
        if (item !== undefined) {
          const mapped = map(item);
          if (mapped !== undefined) return { done: false, value: mapped };
          continue;
        }
        if (this.done) return { done: true, value: undefined };
        await new Promise<void>((resolve) => (this.waiting = resolve));
      }
    };
    const end = async (): Promise<IteratorResult<U>> => {
      this.end();
      return { done: true, value: undefined };
    };
    return { [Symbol.asyncIterator]: () => ({ next, return: end }) };
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.drain((item) => item)[Symbol.asyncIterator]();
  }
}
