/**
 * forwardCall (forward.ts) used directly, with ForwardRequests the router never builds: a pool whose
 * session cannot open a stream (the caller gets a clean Unavailable, the call's count and callbacks are
 * settled, its session dropped), and the request limit disabled (Infinity: the request is piped as is,
 * and still kept for the one safe retry when there is one).
 */
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConnectError } from "@connectrpc/connect";
import { CallCounts } from "../../../src/router/call-counts.js";
import { forwardCall, type ForwardRequest } from "../../../src/router/forward.js";
import type { OutlierDetector } from "../../../src/router/outlier-ejection.js";
import { createUpstreamPool, type UpstreamPool, type UpstreamTarget } from "../../../src/router/upstream-pool.js";
import { listen } from "./harness.js";

type Forward = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;

function baseRequest(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, target: UpstreamTarget): ForwardRequest {
  return {
    stream,
    headers,
    protocol: "grpc",
    target,
    path: "/kv.v1.KVService/Put",
    callerHeader: undefined,
    timeoutMs: undefined,
    maxMessageBytes: Infinity,
    maxResponseMessageBytes: Infinity,
    onEnd: undefined,
  };
}

describe("forwardCall with requests the router does not build", () => {
  let front: http2.Http2Server;
  let frontUrl = "";
  let forward: Forward = () => undefined;
  let session: http2.ClientHttp2Session;
  /** Raw providers: each records the request bytes it got, answers once the request ended. */
  const providers: { server: http2.Http2Server; url: string; got: Buffer[]; ended: boolean; refuse: boolean }[] = [];
  const providerSessions = new Set<http2.ServerHttp2Session>();

  beforeAll(async () => {
    front = http2.createServer();
    front.on("stream", (s, h) => forward(s as ServerHttp2Stream, h));
    frontUrl = await listen(front);
    session = http2.connect(frontUrl);
    session.on("error", () => undefined);
    for (let i = 0; i < 2; i++) {
      const p = { server: http2.createServer(), url: "", got: [] as Buffer[], ended: false, refuse: false };
      p.server.on("session", (s) => providerSessions.add(s));
      p.server.on("stream", (stream) => {
        const s = stream as ServerHttp2Stream;
        s.on("error", () => undefined);
        if (p.refuse) return s.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        s.on("data", (c: Buffer) => p.got.push(c));
        s.on("end", () => {
          p.ended = true;
          s.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
          s.on("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
          s.end(Buffer.from([0, 0, 0, 0, 0]));
        });
      });
      p.url = await listen(p.server);
      providers.push(p);
    }
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => setImmediate(resolve));
    session.destroy();
    for (const s of providerSessions) s.destroy();
    await new Promise<void>((resolve) => front.close(() => resolve()));
    for (const p of providers) await new Promise<void>((resolve) => p.server.close(() => resolve()));
  });

  /** A gRPC call from a raw client: `body` sent, the request ended only when `end`. */
  function request(body: Buffer, end: boolean) {
    const req = session.request({ ":method": "POST", ":path": "/kv.v1.KVService/Put", "content-type": "application/grpc" });
    req.on("error", () => undefined);
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    req.on("response", (h) => (headers = h));
    req.on("trailers", (t) => (trailers = t));
    req.resume();
    if (end) req.end(body);
    else req.write(body);
    const closed = new Promise<void>((resolve) => req.once("close", () => resolve()));
    return { req, closed, answer: () => ({ headers, trailers }) };
  }

  it("a session that cannot open a stream: Unavailable, the request released, the count, outliers and callbacks settled", async () => {
    const discarded: UpstreamTarget[] = [];
    const pool = {
      session: () => ({
        request: () => {
          throw new Error("session closing");
        },
      }),
      discard: (t: UpstreamTarget) => discarded.push(t),
    } as unknown as UpstreamPool;
    const target = createUpstreamPool().target(providers[0]!.url);
    const judged: string[] = [];
    const outliers: OutlierDetector = {
      failure: (id, hard) => judged.push(`failure:${id}:${hard}`),
      success: (id) => judged.push(`success:${id}`),
      filter: (c) => c,
      ejectedCount: () => 0,
      ejectionsTotal: () => 0,
    };
    const inFlight = new CallCounts();
    const ends: string[] = [];
    let settled = 0;
    let cancel: ((e: ConnectError) => void) | undefined;
    // Once with every callback, once with none (a bare proxy): neither may throw.
    for (const bare of [false, true]) {
      judged.length = ends.length = settled = 0;
      inFlight.increment("rt-1");
      let threw: unknown;
      forward = (stream, headers) => {
        try {
          const call: ForwardRequest = bare
            ? { ...baseRequest(stream, headers, target), runtimeId: "rt-1", inFlight }
            : { ...baseRequest(stream, headers, target), runtimeId: "rt-1", inFlight, outliers, onEnd: (code) => ends.push(code), onSettled: () => settled++ };
          cancel = forwardCall(pool, call);
          // Nothing is left to cancel.
          cancel(new (class extends Error {})() as unknown as ConnectError);
        } catch (e) {
          threw = e;
        }
      };
      // The request stays open: only the router's reset (NO_ERROR, once the answer is out) closes it.
      const r = request(Buffer.from([0, 0, 0, 0, 1, 9]), false);
      await r.closed;
      expect(threw).toBeUndefined();
      expect(r.answer().headers["grpc-status"]).toBe("14");
      expect(decodeURIComponent(String(r.answer().headers["grpc-message"]))).toBe("provider unavailable");
      expect(r.answer().headers["content-type"]).toBe("application/grpc");
      expect(r.req.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
      expect(inFlight.get("rt-1")).toBe(0);
      expect(discarded.length).toBeGreaterThan(0);
      if (!bare) {
        expect(judged).toEqual(["failure:rt-1:true"]);
        expect(ends).toEqual(["unavailable"]);
        expect(settled).toBe(1);
      }
    }
  });

  it("no request limit, no retry: the request is piped to the provider whole", async () => {
    const pool = createUpstreamPool();
    const p = providers[0]!;
    p.got.length = 0;
    p.ended = false;
    forward = (stream, headers) => void forwardCall(pool, baseRequest(stream, headers, pool.target(p.url)));
    try {
      const body = Buffer.concat([Buffer.from([0, 0, 0, 0, 3]), Buffer.from("abc")]);
      const r = request(body, true);
      await r.closed;
      expect(r.answer().trailers["grpc-status"]).toBe("0");
      expect(Buffer.concat(p.got)).toEqual(body);
    } finally {
      await pool.close();
    }
  });

  it("no request limit, with a retry: the bytes are kept and replayed to the next provider", async () => {
    const pool = createUpstreamPool();
    const [first, second] = providers as [(typeof providers)[0], (typeof providers)[0]];
    first.refuse = true;
    second.got.length = 0;
    second.ended = false;
    forward = (stream, headers) =>
      void forwardCall(pool, {
        ...baseRequest(stream, headers, pool.target(first.url)),
        runtimeId: "first",
        retarget: async () => ({ target: pool.target(second.url), runtimeId: "second", callerHeader: undefined }),
      });
    try {
      const body = Buffer.concat([Buffer.from([0, 0, 0, 0, 3]), Buffer.from("xyz")]);
      const r = request(body, true);
      await expect.poll(() => second.ended, { timeout: 5000 }).toBe(true);
      await r.closed;
      expect(r.answer().trailers["grpc-status"]).toBe("0");
      expect(Buffer.concat(second.got)).toEqual(body);
    } finally {
      first.refuse = false;
      await pool.close();
    }
  });
});
