import { Code, ConnectError } from "@connectrpc/connect";

/**
 * A bounded queue feeding one server stream. When the consumer falls more than
 * `limit` items behind, the stream ends with ResourceExhausted: a watcher is cut
 * off loudly rather than silently missing events.
 */
export class BoundedQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiting: (() => void) | undefined;
  private failure: ConnectError | undefined;
  private done = false;

  constructor(private readonly limit: number) {}

  push(item: T): void {
    if (this.done || this.failure) return;
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
