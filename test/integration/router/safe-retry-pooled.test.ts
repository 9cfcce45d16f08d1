/**
 * Issue 20: one safe retry in the router, on sessions that were already connected. A provider that
 * refuses a call's stream (RST_STREAM REFUSED_STREAM) or sends GOAWAY with a last-stream-id below it
 * has processed nothing: the call goes once to another provider — request stream included (the bytes
 * already sent are replayed). Every call kind, Connect, gRPC and gRPC-Web callers: no call may fail.
 * (A provider killed -9 under calls: safe-retry-killed-provider.test.ts.)
 */
import http2, { type Http2Server } from "node:http2";
import net from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { HEADER_PROVIDER } from "../../../src/protocol/index.js";
import { PROTOCOLS, clientFactory, expectConnectError, listen, messages, startProvider } from "./harness.js";
import { ANSWER, KINDS, call, frontPreferring } from "./retry-helpers.js";

function frame(type: number, flags: number, streamId: number, payload = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/** A raw HTTP/2 server that answers the first HEADERS of each connection with GOAWAY(last-stream-id 0, NO_ERROR). */
function goawayServer(): net.Server {
  return net.createServer((socket) => {
    socket.on("error", () => {});
    let buffered = Buffer.alloc(0);
    let preface = false;
    let sent = false;
    socket.write(frame(0x4, 0, 0)); // SETTINGS
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!preface) {
        if (buffered.length < 24) return;
        buffered = buffered.subarray(24);
        preface = true;
      }
      while (buffered.length >= 9) {
        const length = buffered.readUIntBE(0, 3);
        if (buffered.length < 9 + length) break;
        const type = buffered[3]!;
        const flags = buffered[4]!;
        buffered = buffered.subarray(9 + length);
        if (type === 0x4 && (flags & 1) === 0) socket.write(frame(0x4, 1, 0)); // SETTINGS ACK
        if (type === 0x1 && !sent) {
          sent = true;
          socket.write(frame(0x7, 0, 0, Buffer.alloc(8))); // GOAWAY: last stream 0, NO_ERROR
        }
      }
    });
  });
}

describe("one safe retry on an already-connected provider session", () => {
  let healthy: Awaited<ReturnType<typeof startProvider>>;
  let refusing: Http2Server;
  let refusingUrl = "";
  let refusedStreams = 0;
  let goaway: net.Server;
  let goawayUrl = "";
  const clients = clientFactory();

  beforeAll(async () => {
    healthy = await startProvider();
    refusing = http2.createServer();
    refusing.on("stream", (s) => {
      refusedStreams++;
      s.on("error", () => {});
      s.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    });
    refusingUrl = await listen(refusing);
    goaway = goawayServer();
    await new Promise<void>((r) => goaway.listen(0, "127.0.0.1", r));
    goawayUrl = `http://127.0.0.1:${(goaway.address() as net.AddressInfo).port}`;
  });
  afterEach(async () => {
    clients.close();
  });
  afterAll(async () => {
    await new Promise<void>((r) => refusing.close(() => r()));
    await new Promise<void>((r) => goaway.close(() => r()));
    await healthy.close();
  });

  describe.each(PROTOCOLS)("%s", (protocol) => {
    it("a provider answering RST_STREAM REFUSED_STREAM on its live session → every call kind goes to the other, once", async () => {
      const { front, counts, reset } = await frontPreferring(refusingUrl, healthy.url);
      try {
        const kv = clients.client(protocol, front.url);
        const before = refusedStreams;
        for (const kind of KINDS) {
          reset();
          expect(await call(kv, kind), kind).toBe(ANSWER[kind]);
        }
        // Each call was refused by A (over one pooled session) and answered by B.
        expect(refusedStreams - before).toBe(KINDS.length);
        expect(counts).toEqual({ a: KINDS.length, b: KINDS.length });
      } finally {
        clients.close();
        await front.close();
      }
    });

    it("never twice: when the other provider refuses too, the call fails with Unavailable", async () => {
      const { front, counts } = await frontPreferring(refusingUrl, refusingUrl);
      try {
        const kv = clients.client(protocol, front.url);
        const err = await expectConnectError(call(kv, "client-stream"));
        expect(err.code).toBe(Code.Unavailable);
        expect(counts).toEqual({ a: 1, b: 1 });
      } finally {
        clients.close();
        await front.close();
      }
    });

    it("never a pinned call: refused, it fails with Unavailable", async () => {
      const { front, counts } = await frontPreferring(refusingUrl, healthy.url);
      try {
        const kv = clients.client(protocol, front.url, "pbrt_alice", { [HEADER_PROVIDER]: "A" });
        const err = await expectConnectError(call(kv, "unary"));
        expect(err.code).toBe(Code.Unavailable);
        expect(counts).toEqual({ a: 1, b: 0 });
      } finally {
        clients.close();
        await front.close();
      }
    });

    it("a provider sending GOAWAY(last-stream-id 0) for a call's stream → the call goes to the other", async () => {
      for (const kind of KINDS) {
        const { front, counts } = await frontPreferring(goawayUrl, healthy.url);
        try {
          const kv = clients.client(protocol, front.url);
          expect(await call(kv, kind), kind).toBe(ANSWER[kind]);
          expect(counts).toEqual({ a: 1, b: 1 });
        } finally {
          clients.close();
          await front.close();
        }
      }
    });
  });

  describe.each(["connect", "grpcweb"] as const)("bridged (gRPC-only providers), %s caller", (protocol) => {
    it("a provider answering REFUSED_STREAM → every call kind goes to the other, once", async () => {
      const { front, counts, reset } = await frontPreferring(refusingUrl, healthy.url, undefined, {}, [1]);
      try {
        const kv = clients.client(protocol, front.url);
        for (const kind of KINDS) {
          reset();
          expect(await call(kv, kind), kind).toBe(ANSWER[kind]);
        }
        expect(counts).toEqual({ a: KINDS.length, b: KINDS.length });
      } finally {
        clients.close();
        await front.close();
      }
    });
  });

  it("past the replay budget (the request message limit) the request bytes are not kept: a late refusal is not retried", async () => {
    // Refuses only once it has received more than the budget (maxMessageBytes 64: 69 bytes kept at most).
    const late = http2.createServer();
    late.on("stream", (s) => {
      let got = 0;
      s.on("error", () => {});
      s.on("data", (c: Buffer) => {
        got += c.length;
        if (got > 200 && !s.closed) s.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      });
    });
    const lateUrl = await listen(late);
    const { front, counts } = await frontPreferring(lateUrl, healthy.url, undefined, { maxMessageBytes: 64 });
    try {
      const kv = clients.client("connect", front.url);
      const many = Array.from({ length: 8 }, (_, i) => ({ key: `k${i}`, value: new Uint8Array(40) }));
      const err = await expectConnectError(kv.putMany(messages(many)));
      expect(err.code).toBe(Code.Unavailable);
      expect(counts).toEqual({ a: 1, b: 0 });
    } finally {
      clients.close();
      await front.close();
      await new Promise<void>((r) => late.close(() => r()));
    }
  });
});
