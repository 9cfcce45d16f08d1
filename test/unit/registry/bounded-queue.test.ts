/**
 * The bounded queue behind each watch stream: a consumer that falls more than `limit` events behind is
 * cut off with ResourceExhausted (never left silently missing events); an ended stream takes nothing
 * more. Written against `npm run mutate -- registry` (docs/testing.md).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { BoundedQueue } from "../../../src/registry/watch-queue.js";

const collect = async <T>(items: AsyncIterable<T>): Promise<T[]> => {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
};

describe("BoundedQueue", () => {
  it("holds up to its limit, in order, until the stream ends", async () => {
    const q = new BoundedQueue<number>(3);
    q.push(1);
    q.push(2);
    q.push(3);
    q.end();
    expect(await collect(q)).toEqual([1, 2, 3]);
  });

  it("one event more than the limit ends the stream with ResourceExhausted naming the limit", async () => {
    const q = new BoundedQueue<number>(2);
    q.push(1);
    q.push(2);
    q.push(3);
    const err = await collect(q).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.ResourceExhausted);
    expect(err?.rawMessage).toBe("watcher fell more than 2 events behind; watch again");
  });

  it("keeps the first failure, and takes nothing after one", async () => {
    const q = new BoundedQueue<number>(5);
    q.fail(new ConnectError("the watching runtime ended", Code.Unauthenticated));
    q.fail(new ConnectError("second", Code.Internal));
    q.push(1);
    await expect(collect(q)).rejects.toThrow("the watching runtime ended");
  });

  it("after end, pushes are dropped; what was queued is still delivered", async () => {
    const q = new BoundedQueue<string>(5);
    q.push("a");
    q.end();
    q.push("b");
    expect(await collect(q)).toEqual(["a"]);
  });

  it("a waiting consumer is woken by a push, a failure or the end", async () => {
    const q = new BoundedQueue<string>(5);
    const got = collect(q);
    await new Promise((r) => setImmediate(r));
    q.push("x");
    await new Promise((r) => setImmediate(r));
    q.push("y");
    q.end();
    expect(await got).toEqual(["x", "y"]);

    const failing = new BoundedQueue<string>(5);
    const refused = collect(failing);
    await new Promise((r) => setImmediate(r));
    failing.fail(new ConnectError("gone", Code.Unauthenticated));
    await expect(refused).rejects.toThrow("gone");
  });

  it("drain maps each item and skips those mapped to undefined", async () => {
    const q = new BoundedQueue<number>(5);
    for (const n of [1, 2, 3, 4]) q.push(n);
    q.end();
    expect(await collect(q.drain((n) => (n % 2 === 0 ? `even ${n}` : undefined)))).toEqual(["even 2", "even 4"]);
  });

  it("a consumer that stops iterating ends the queue: later pushes are dropped", async () => {
    const q = new BoundedQueue<number>(5);
    q.push(1);
    q.push(2);
    for await (const n of q.drain((x) => x)) {
      expect(n).toBe(1);
      break;
    }
    q.push(3);
    expect(await collect(q)).toEqual([2]);
  });

  it("a stream delegating to the queue (yield*) ends at once when its consumer closes it", async () => {
    const q = new BoundedQueue<number>(5);
    let closed = false;
    async function* stream() {
      try {
        yield* q.drain((x) => x);
      } finally {
        closed = true;
      }
    }
    const it = stream();
    q.push(1);
    expect(await it.next()).toEqual({ done: false, value: 1 });
    expect(await it.return(undefined)).toEqual({ done: true, value: undefined });
    expect(closed).toBe(true);
  });
});
