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

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.failure) throw this.failure;
      const item = this.items.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      if (this.done) return;
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }
}
