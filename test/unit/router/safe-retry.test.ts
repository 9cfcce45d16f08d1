import http2 from "node:http2";
import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS } from "../../../src/protocol/constants.js";
import { RequestReplay, replayBudgetFor, unprocessed } from "../../../src/router/safe-retry.js";

const { NGHTTP2_REFUSED_STREAM, NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

describe("what the safe retry counts as not processed", () => {
  it("a refused stream (RST_STREAM or GOAWAY below it); nothing else", () => {
    expect(unprocessed(NGHTTP2_REFUSED_STREAM, "ERR_HTTP2_STREAM_ERROR")).toBe(true);
    // A reset connection says some bytes went unread — on a shared session maybe another call's.
    expect(unprocessed(NGHTTP2_INTERNAL_ERROR, "ECONNRESET")).toBe(false);
    expect(unprocessed(NGHTTP2_INTERNAL_ERROR, "EPIPE")).toBe(false);
    // A connection closed cleanly (FIN) under the stream: the provider may have read it and died working on it.
    expect(unprocessed(NGHTTP2_CANCEL, undefined)).toBe(false);
    expect(unprocessed(NGHTTP2_INTERNAL_ERROR, "ERR_HTTP2_SESSION_ERROR")).toBe(false);
    expect(unprocessed(NGHTTP2_NO_ERROR, undefined)).toBe(false);
  });

  it("keeps at most the first message's worth of request bytes", () => {
    expect(replayBudgetFor(1024)).toBe(1029);
    expect(replayBudgetFor(Infinity)).toBe(DEFAULT_LIMITS.maxMessageBytes + 5);
  });
});

describe("the request bytes a retry replays", () => {
  const bytes = (n: number) => new Uint8Array(n);

  it("keeps every chunk in order, by reference, within the budget", () => {
    const replay = new RequestReplay<Uint8Array>(10);
    const a = bytes(4);
    const b = bytes(6);
    replay.keep(a);
    replay.keep(b);
    const kept = replay.take()!;
    expect(kept).toHaveLength(2);
    expect(kept[0]).toBe(a);
    expect(kept[1]).toBe(b);
    // Taken once: a second retry has nothing to replay.
    expect(replay.take()).toBeUndefined();
  });

  it("an empty request is replayable (nothing to send again), a request past the budget is not", () => {
    expect(new RequestReplay<Uint8Array>(10).take()).toEqual([]);
    const over = new RequestReplay<Uint8Array>(10);
    over.keep(bytes(6));
    over.keep(bytes(5));
    expect(over.keeping).toBe(false);
    expect(over.take()).toBeUndefined();
  });

  it("nothing is replayable once the provider accepted the stream", () => {
    const replay = new RequestReplay<Uint8Array>(10);
    replay.keep(bytes(1));
    replay.stop();
    replay.keep(bytes(1));
    expect(replay.take()).toBeUndefined();
  });
});
