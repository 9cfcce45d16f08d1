/**
 * The edges of the direct frame path of Watch: which streams take frames directly (directStreamOf),
 * the exact size limit, and streams that are gone or broken. Written against
 * `npm run mutate -- registry` (docs/testing.md).
 */
import { EventEmitter } from "node:events";
import type * as http2 from "node:http2";
import { Code, createContextValues, type HandlerContext } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { dataFrame, directStreamOf, requestStreamKey } from "../../../src/registry/direct-frames.js";
import { forwardFrames } from "../../../src/registry/forward-frames.js";
import type { FannedEvent } from "../../../src/registry/watch-hub.js";
import { BoundedQueue } from "../../../src/registry/watch-queue.js";

class FakeStream extends EventEmitter {
  written: Buffer[] = [];
  headersSent = true;
  destroyed = false;
  writableEnded = false;
  broken = false;
  write(chunk: Buffer): boolean {
    if (this.broken) throw new Error("boom");
    this.written.push(chunk);
    return true;
  }
}

function contextOf(contentType: string, stream: FakeStream | undefined): HandlerContext {
  const values = createContextValues();
  if (stream) values.set(requestStreamKey, stream as unknown as http2.ServerHttp2Stream);
  return { requestHeader: new Headers({ "content-type": contentType }), values } as unknown as HandlerContext;
}

const fanned = (bytes: Buffer): FannedEvent =>
  ({ event: { type: "added", registration: { registrationId: "rg" } }, seq: 1, frame: () => dataFrame(bytes) }) as unknown as FannedEvent;

describe("directStreamOf", () => {
  it("is the request's HTTP/2 stream for binary codecs, once its headers are out and while it can be written", () => {
    const stream = new FakeStream();
    for (const type of ["application/connect+proto", "application/grpc", "application/grpc-web+proto"])
      expect(directStreamOf(contextOf(type, stream))).toBe(stream);
  });

  it("is undefined for JSON, without a stream, before its headers, and once it is gone or ended", () => {
    const ok = () => new FakeStream();
    expect(directStreamOf(contextOf("application/connect+json", ok()))).toBeUndefined();
    expect(directStreamOf(contextOf("application/grpc", undefined))).toBeUndefined();
    const early = ok();
    early.headersSent = false;
    const gone = ok();
    gone.destroyed = true;
    const ended = ok();
    ended.writableEnded = true;
    for (const s of [early, gone, ended]) expect(directStreamOf(contextOf("application/grpc", s))).toBeUndefined();
  });
});

describe("forwardFrames edges", () => {
  function start(maxMessageBytes: number, limit = 2) {
    const queue = new BoundedQueue<FannedEvent>(limit);
    const stream = new FakeStream();
    const done = forwardFrames(queue, stream as unknown as http2.ServerHttp2Stream, () => true, maxMessageBytes);
    return { queue, stream, done };
  }

  it("an event of exactly maxMessageBytes is written; one byte more is refused, its size named", async () => {
    const fits = start(4);
    fits.queue.push(fanned(Buffer.from("four")));
    expect(fits.stream.written).toHaveLength(1);
    fits.queue.end();
    await fits.done;

    const over = start(3);
    over.queue.push(fanned(Buffer.from("four")));
    await expect(over.done).rejects.toMatchObject({
      code: Code.ResourceExhausted,
      rawMessage: "watch event of 4 bytes exceeds limits.maxMessageBytes (3)",
    });
    expect(over.stream.written).toEqual([]);
  });

  it("a stream already gone takes no frames and does not count against the limit", async () => {
    const { queue, stream, done } = start(1024, 2);
    stream.destroyed = true;
    let settled = false;
    void done.then(
      () => (settled = true),
      () => (settled = true),
    );
    for (let i = 0; i < 5; i++) queue.push(fanned(Buffer.from("x")));
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false); // not failed: the request's signal ends it
    expect(stream.written).toEqual([]);
    queue.end();
    await done;
  });

  it("a write that throws fails the watch with Internal, naming the failure", async () => {
    const { queue, stream, done } = start(1024);
    stream.broken = true;
    queue.push(fanned(Buffer.from("x")));
    await expect(done).rejects.toMatchObject({ code: Code.Internal, rawMessage: "watch stream write failed" });
  });
});
