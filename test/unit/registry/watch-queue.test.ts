import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { BoundedQueue } from "../../../src/registry/watch-queue.js";

/** A sink standing for a stream: takes items until `room` is used up (a full write buffer), until resumed. */
function sink(room = Number.POSITIVE_INFINITY) {
  const got: number[] = [];
  let left = room;
  return {
    got,
    take: (item: number) => {
      got.push(item);
      return --left > 0;
    },
    refill: (more: number) => (left = more),
  };
}

describe("BoundedQueue.forward (a watch written straight to its stream)", () => {
  it("hands over what was queued before, in order, then each item as it is pushed", async () => {
    const queue = new BoundedQueue<number>(10);
    queue.push(1);
    queue.push(2);
    const s = sink();
    const done = queue.forward(s.take);
    expect(s.got).toEqual([1, 2]);
    queue.push(3);
    expect(s.got).toEqual([1, 2, 3]); // at once: no promise between the push and the write
    queue.end();
    await expect(done).resolves.toBeUndefined();
    queue.push(4);
    expect(s.got).toEqual([1, 2, 3]);
  });

  it("queues while the sink is full and hands the queue over in order when resumed", async () => {
    const queue = new BoundedQueue<number>(10);
    const s = sink(2);
    const done = queue.forward(s.take);
    for (let i = 1; i <= 5; i++) queue.push(i);
    expect(s.got).toEqual([1, 2]); // the second filled it
    s.refill(2);
    queue.resume();
    expect(s.got).toEqual([1, 2, 3, 4]); // full again after two
    s.refill(100);
    queue.resume();
    queue.push(6);
    expect(s.got).toEqual([1, 2, 3, 4, 5, 6]);
    queue.end();
    await done;
  });

  it("fails with ResourceExhausted once more than `limit` items wait for a full sink, and hands over nothing after", async () => {
    const queue = new BoundedQueue<number>(3);
    const s = sink(1);
    const done = queue.forward(s.take);
    for (let i = 1; i <= 4; i++) queue.push(i); // 1 taken (now full); 2, 3, 4 wait: at the limit
    await Promise.resolve();
    queue.push(5); // one more than the limit
    const error = await done.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.ResourceExhausted);
    expect((error as ConnectError).rawMessage).toMatch(/more than 3 events behind/);
    s.refill(100);
    queue.resume();
    expect(s.got).toEqual([1]);
  });

  it("rejects with the failure it is given (the watching runtime ended)", async () => {
    const queue = new BoundedQueue<number>(3);
    const done = queue.forward(sink().take);
    queue.fail(new ConnectError("the watching runtime ended", Code.Unauthenticated));
    await expect(done).rejects.toMatchObject({ code: Code.Unauthenticated });
  });
});
