import { EventEmitter } from "node:events";
import type * as http2 from "node:http2";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { dataFrame } from "../../../src/registry/direct-frames.js";
import { forwardFrames } from "../../../src/registry/forward-frames.js";
import type { FannedEvent } from "../../../src/registry/watch-hub.js";
import { BoundedQueue } from "../../../src/registry/watch-queue.js";

/** A stand-in for the HTTP/2 stream: records writes; `full` makes write() report a full buffer; `broken` makes it throw. */
class FakeStream extends EventEmitter {
  written: string[] = [];
  full = false;
  broken = false;
  destroyed = false;
  writableEnded = false;
  write(chunk: Buffer): boolean {
    if (this.broken) throw new Error("boom");
    this.written.push(chunk.subarray(5).toString());
    return !this.full;
  }
}

const fanned = (id: string, seq = 10, bytes = Buffer.from(id)): FannedEvent =>
  ({
    event: { type: "added", registration: { registrationId: id } },
    seq,
    message: () => {
      throw new Error("not on this path");
    },
    frame: () => dataFrame(bytes),
  }) as unknown as FannedEvent;

function start(options: { limit?: number; maxMessageBytes?: number; isNews?: (f: FannedEvent) => boolean } = {}) {
  const queue = new BoundedQueue<FannedEvent>(options.limit ?? 4);
  const stream = new FakeStream();
  const done = forwardFrames(queue, stream as unknown as http2.ServerHttp2Stream, options.isNews ?? (() => true), options.maxMessageBytes ?? 1024);
  return { queue, stream, done };
}

describe("forwardFrames", () => {
  it("writes each event's frame at once, skipping what is not news, and resolves when the watch ends", async () => {
    const { queue, stream, done } = start({ isNews: (f) => f.event.registration.registrationId !== "old" });
    queue.push(fanned("a"));
    queue.push(fanned("old"));
    queue.push(fanned("b"));
    expect(stream.written).toEqual(["a", "b"]);
    queue.end();
    await expect(done).resolves.toBeUndefined();
    expect(stream.listenerCount("drain")).toBe(0);
  });

  it("stops writing while the stream's buffer is full and writes the rest in order on drain", async () => {
    const { queue, stream, done } = start();
    stream.full = true;
    queue.push(fanned("a")); // fills it
    queue.push(fanned("b"));
    queue.push(fanned("c"));
    expect(stream.written).toEqual(["a"]);
    stream.full = false;
    stream.emit("drain");
    queue.push(fanned("d"));
    expect(stream.written).toEqual(["a", "b", "c", "d"]);
    queue.end();
    await done;
  });

  it("ends ResourceExhausted when more than the limit wait for a stream that does not drain", async () => {
    const { queue, stream, done } = start({ limit: 2 });
    stream.full = true;
    for (const id of ["a", "b", "c", "d"]) queue.push(fanned(id));
    await expect(done).rejects.toMatchObject({ code: Code.ResourceExhausted });
    stream.emit("drain");
    expect(stream.written).toEqual(["a"]);
  });

  it("refuses an event larger than maxMessageBytes with ResourceExhausted, naming the limit", async () => {
    const { queue, done } = start({ maxMessageBytes: 3 });
    queue.push(fanned("big", 10, Buffer.from("four")));
    await expect(done).rejects.toMatchObject({ code: Code.ResourceExhausted, rawMessage: expect.stringMatching(/maxMessageBytes \(3\)/) });
  });

  it("a write that throws ends this watch with Internal without throwing into the fan-out", async () => {
    const { queue, stream, done } = start();
    stream.broken = true;
    expect(() => queue.push(fanned("a"))).not.toThrow();
    await expect(done).rejects.toMatchObject({ code: Code.Internal });
  });

  it("writes nothing to a stream already gone", async () => {
    const { queue, stream, done } = start();
    stream.destroyed = true;
    queue.push(fanned("a"));
    expect(stream.written).toEqual([]);
    queue.end();
    await done;
  });
});
