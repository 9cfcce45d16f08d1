import http2, { type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { gzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { StringValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { bridgeCall } from "../../../src/router/bridge/bridge-call.js";
import { forwardCall } from "../../../src/router/forward.js";
import { JsonCodec } from "../../../src/router/bridge/json-codec.js";
import type { CallCounts } from "../../../src/router/call-counts.js";
import type { ForwardRequest } from "../../../src/router/forward-request.js";
import type { OutlierDetector } from "../../../src/router/outlier-ejection.js";
import type { RetryTarget } from "../../../src/router/safe-retry.js";
import { createUpstreamPool, type UpstreamPool, type UpstreamTarget } from "../../../src/router/upstream-pool.js";
import type { WireProtocol } from "../../../src/router/wire-protocol.js";
import { listen } from "./harness.js";

/*
 * bridgeCall driven directly (no router in front): a raw HTTP/2 caller, a front server that hands each stream to
 * bridgeCall with a ForwardRequest the test chooses (limits, deadline, retarget, JSON codec, a pool that fails), and
 * raw gRPC providers. What the caller, the providers and the call's callbacks (onEnd, onSettled, in-flight counts,
 * outlier reports, pool discards) observe is checked. bridge-edges.test.ts checks the bridge through the router.
 */

const { NGHTTP2_REFUSED_STREAM, NGHTTP2_INTERNAL_ERROR, NGHTTP2_CANCEL, NGHTTP2_NO_ERROR } = http2.constants;
const GRPC_OK = { ":status": 200, "content-type": "application/grpc" };

function envelope(payload: Buffer | Uint8Array | string, flags = 0): Buffer {
  const p = Buffer.from(payload);
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(p.length, 1);
  return Buffer.concat([head, p]);
}
function envelopes(body: Buffer): { flags: number; payload: Buffer }[] {
  const out: { flags: number; payload: Buffer }[] = [];
  for (let i = 0; i + 5 <= body.length; ) {
    const n = body.readUInt32BE(i + 1);
    out.push({ flags: body[i]!, payload: body.subarray(i + 5, i + 5 + n) });
    i += 5 + n;
  }
  return out;
}
const str = (s: string) => Buffer.from(toBinary(StringValueSchema, create(StringValueSchema, { value: s })));
const unstr = (b: Buffer) => fromBinary(StringValueSchema, b).value;
const tick = () => new Promise<void>((r) => setImmediate(r));
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

interface ProviderSeen {
  headers: IncomingHttpHeaders;
  body: Buffer;
  rstCode?: number;
}

/** A raw gRPC provider; what it does is chosen by the method name. */
async function startProvider(name: string) {
  const seen: ProviderSeen[] = [];
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    const s = stream as ServerHttp2Stream;
    const entry: ProviderSeen = { headers, body: Buffer.alloc(0) };
    seen.push(entry);
    s.on("close", () => (entry.rstCode = s.rstCode));
    s.on("error", () => {});
    const method = String(headers[":path"]).split("/")[2]!;
    if (method === "Refuse" && name === "a") return s.close(NGHTTP2_REFUSED_STREAM);
    if (method === "Hang") return s.respond(GRPC_OK);
    if (method === "Fail") return s.respond({ ...GRPC_OK, "grpc-status": "5", "grpc-message": "gone", "x-m": "v" }, { endStream: true });
    // OK at once (trailers-only); the stream stays open until the router ends its side (node closes a stream it
    // answered at once only when nothing reads the request).
    if (method === "AnswerNow") {
      s.resume();
      return s.respond({ ...GRPC_OK, "grpc-status": "0" }, { endStream: true });
    }
    // A whole answer (headers, a message, trailers) without waiting for the request's end.
    if (method === "AnswerStreaming") {
      s.resume();
      s.respond(GRPC_OK, { waitForTrailers: true });
      s.once("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
      return s.end(envelope("m"));
    }
    // The same, then the rest of the request refused (RST_STREAM NO_ERROR, as gRPC servers do).
    if (method === "AnswerThenReset") {
      s.respond({ ...GRPC_OK, "grpc-status": "0" }, { endStream: true });
      return setImmediate(() => s.close(NGHTTP2_NO_ERROR));
    }
    if (method === "Slow") s.pause();
    const chunks: Buffer[] = [];
    s.on("data", (c: Buffer) => chunks.push(c));
    if (method === "Slow") setTimeout(() => s.resume(), 300);
    s.on("end", () => {
      entry.body = Buffer.concat(chunks);
      const trailed = (status: string, body: Buffer | undefined, headers: OutgoingHttpHeaders = GRPC_OK) => {
        s.respond(headers, { waitForTrailers: true });
        s.once("wantTrailers", () => s.sendTrailers({ "grpc-status": status, "x-t": name }));
        s.end(body);
      };
      switch (method) {
        case "Unavail":
          return s.respond({ ...GRPC_OK, "grpc-status": "14", "grpc-message": "busy" }, { endStream: true });
        case "Reset":
          return s.close(NGHTTP2_INTERNAL_ERROR);
        case "NoTrailers":
          s.respond(GRPC_OK);
          return s.end(envelope("m"));
        case "DieAtBoundary":
          s.respond(GRPC_OK);
          s.write(envelope("ab"));
          return setTimeout(() => s.close(NGHTTP2_INTERNAL_ERROR), 50);
        case "DieMidMessage":
          s.respond(GRPC_OK);
          s.write(Buffer.concat([envelope("whole"), envelope("half of it").subarray(0, 8)]));
          return setTimeout(() => s.close(NGHTTP2_INTERNAL_ERROR), 50);
        case "DieInHugeMessage": {
          // Larger than the gate holds back with the limit off (4 MiB): it passes on as it comes.
          s.respond(GRPC_OK);
          const huge = envelope(Buffer.alloc(5 << 20, 4));
          s.write(huge.subarray(0, (4 << 20) + 4096));
          return setTimeout(() => s.close(NGHTTP2_INTERNAL_ERROR), 50);
        }
        case "NotAString":
          return trailed("0", envelope(Buffer.from([0xff, 0xff, 0xff])));
        case "GzipString":
          return trailed("0", envelope(gzipSync(str("zipped")), 1), { ...GRPC_OK, "grpc-encoding": "gzip" });
        case "Big":
          return trailed("0", envelope(Buffer.alloc(100, 1)));
        case "Large":
          return trailed("0", Buffer.concat([envelope(Buffer.alloc(1 << 20, 2)), envelope(String(entry.body.length))]));
        default:
          return trailed("0", entry.body, { ...GRPC_OK, "x-h": name });
      }
    });
  });
  const url = await listen(server);
  return { url, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** What one call's callbacks saw. */
interface Record_ {
  ends: string[];
  settled: number;
  increments: string[];
  decrements: string[];
  outcomes: string[];
  discards: string[];
  retargets: number;
  cancel?: (e: ConnectError) => void;
  callerClosed: boolean;
  /** The request bytes the front received from the caller. */
  requestBytes: number;
}
let rec: Record_;
const fresh = (): Record_ => ({ ends: [], settled: 0, increments: [], decrements: [], outcomes: [], discards: [], retargets: 0, callerClosed: false, requestBytes: 0 });

/** How the next call is made (the test sets it). */
interface Setup {
  protocol: WireProtocol;
  provider?: string;
  timeoutMs?: number;
  limit?: number;
  json?: JsonCodec;
  /** undefined: no retry; else the next provider's URL (undefined: none), after `gate`. */
  retarget?: () => Promise<string | undefined>;
  runtimeId?: string | null;
  /** The pool's session() throws for these origins. */
  brokenOrigins?: string[];
  /** No outlier detector on the call. */
  noOutliers?: boolean;
  /**
   * Called with each stream the bridge opens to a provider, before the bridge's own listeners are attached (so a
   * listener added here runs first: a race between the router and the provider's answer, made deterministic).
   */
  onUpstream?: (upstream: http2.ClientHttp2Stream, caller: ServerHttp2Stream) => void;
  /** Forward the call as it is (forwardCall, the same-protocol path) instead of bridging it. */
  passthrough?: boolean;
}
let setup: Setup;
/** The caller stream bridgeCall is being given (for onUpstream). */
let currentCaller: ServerHttp2Stream | undefined;

let a: Awaited<ReturnType<typeof startProvider>>;
let b: Awaited<ReturnType<typeof startProvider>>;
let realPool: UpstreamPool;
let front: http2.Http2Server;
let frontUrl: string;

beforeAll(async () => {
  a = await startProvider("a");
  b = await startProvider("b");
  realPool = createUpstreamPool();
  const pool: UpstreamPool = {
    session(t: UpstreamTarget) {
      if (setup.brokenOrigins?.includes(t.origin)) throw new Error("session refused");
      const session = realPool.session(t);
      const hook = setup.onUpstream;
      const caller = currentCaller!;
      if (hook === undefined) return session;
      return {
        request: (headers: OutgoingHttpHeaders, options?: http2.ClientSessionRequestOptions) => {
          const upstream = session.request(headers, options);
          hook(upstream, caller);
          return upstream;
        },
      } as unknown as http2.ClientHttp2Session;
    },
    target: (e) => realPool.target(e),
    discard(t) {
      rec.discards.push(t.origin);
      realPool.discard(t);
    },
    close: () => realPool.close(),
  };
  const outliers: OutlierDetector = {
    failure: (id, hard) => void rec.outcomes.push(`failure ${id} ${hard ? "hard" : "soft"}`),
    success: (id) => void rec.outcomes.push(`success ${id}`),
    filter: (c) => c,
    ejectedCount: () => 0,
    ejectionsTotal: () => 0,
  };
  const inFlight = {
    increment: (id: string) => void rec.increments.push(id),
    decrement: (id: string) => void rec.decrements.push(id),
  } as unknown as CallCounts;
  front = http2.createServer();
  front.on("stream", (raw, headers) => {
    const stream = raw as ServerHttp2Stream;
    const s = setup;
    const r = rec;
    stream.on("close", () => (r.callerClosed = true));
    stream.on("data", (c: Buffer) => (r.requestBytes += c.length));
    stream.on("error", () => {});
    const limit = s.limit ?? 64;
    const call: ForwardRequest = {
      stream,
      headers,
      protocol: s.protocol,
      target: pool.target(s.provider ?? a.url),
      path: String(headers[":path"]),
      callerHeader: undefined,
      timeoutMs: s.timeoutMs,
      maxMessageBytes: limit,
      maxResponseMessageBytes: limit,
      onEnd: (code) => void r.ends.push(code),
      onSettled: () => void r.settled++,
      outliers: s.noOutliers ? undefined : outliers,
      inFlight,
      retarget:
        s.retarget === undefined
          ? undefined
          : async (): Promise<RetryTarget | undefined> => {
              r.retargets++;
              const url = await s.retarget!();
              return url === undefined ? undefined : { target: pool.target(url), runtimeId: "p2", callerHeader: undefined };
            },
    };
    if (s.runtimeId !== null) call.runtimeId = s.runtimeId ?? "p1";
    currentCaller = stream;
    r.cancel = s.passthrough ? forwardCall(pool, call) : bridgeCall(pool, call, s.json);
  });
  frontUrl = await listen(front);
});
afterAll(async () => {
  await realPool.close();
  await new Promise<void>((r) => front.close(() => r()));
  await a.close();
  await b.close();
});
beforeEach(() => {
  rec = fresh();
});

interface Answer {
  headers: IncomingHttpHeaders;
  body: Buffer;
  trailers: IncomingHttpHeaders | undefined;
  rstCode: number;
  error: string | undefined;
}

/**
 * One call: `send` writes the request (and ends it unless it returns "open"); `onResponse` runs when the answer's
 * headers arrive. Resolves when the caller's stream closed.
 */
async function call(
  headers: OutgoingHttpHeaders,
  send: (req: http2.ClientHttp2Stream) => unknown = (req) => req.end(),
  opts: { slowReader?: boolean; onResponse?: (req: http2.ClientHttp2Stream) => void } = {},
): Promise<Answer> {
  const session = http2.connect(frontUrl);
  session.on("error", () => {});
  try {
    return await new Promise<Answer>((resolve) => {
      const req = session.request({ ":method": "POST", ...headers });
      const chunks: Buffer[] = [];
      let response: IncomingHttpHeaders = {};
      let trailers: IncomingHttpHeaders | undefined;
      req.on("response", (h) => {
        response = h;
        opts.onResponse?.(req);
      });
      req.on("trailers", (t) => (trailers = t));
      req.on("data", (c: Buffer) => chunks.push(c));
      let error: string | undefined;
      req.on("error", (e) => (error = e.message));
      req.on("close", () => resolve({ headers: response, body: Buffer.concat(chunks), trailers, rstCode: req.rstCode ?? 0, error }));
      if (opts.slowReader) {
        req.pause();
        setTimeout(() => req.resume(), 300);
      }
      void send(req);
    });
  } finally {
    await tick();
    session.close();
  }
}

/** Waits until the call's callbacks ran and both its streams closed, then a little more (a second onEnd would come now). */
async function settledCall(): Promise<void> {
  await until(() => rec.ends.length > 0 && rec.callerClosed, "the call to end");
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 10));
}

const unaryProto = (method: string, extra: OutgoingHttpHeaders = {}) => ({ ":path": `/t.v1.S/${method}`, "content-type": "application/proto", ...extra });
const grpcWeb = (method: string) => ({ ":path": `/t.v1.S/${method}`, "content-type": "application/grpc-web+proto" });
const connectStream = (method: string, extra: OutgoingHttpHeaders = {}) => ({ ":path": `/t.v1.S/${method}`, "content-type": "application/connect+proto", ...extra });
const connectJson = (method: string, extra: OutgoingHttpHeaders = {}) => ({ ":path": `/t.v1.S/${method}`, "content-type": "application/connect+json", ...extra });
const json = () => new JsonCodec({ input: StringValueSchema, output: StringValueSchema });
const endStreamOf = (body: Buffer) => JSON.parse(envelopes(body).at(-1)!.payload.toString()) as { error?: { code: string; message: string } };

describe("bridgeCall: how a call ends (onEnd, onSettled, in-flight count, outlier report), exactly once", () => {
  it.each([
    ["Echo", "ok", "success p1"],
    ["Fail", "not_found", "success p1"],
    ["Unavail", "unavailable", "failure p1 soft"],
  ])("unary %s: %s, %s", async (method, code, outcome) => {
    setup = { protocol: "connect-unary", timeoutMs: 10_000 };
    const ans = await call(unaryProto(method), (req) => req.end("x"));
    await settledCall();
    expect(rec).toMatchObject({ ends: [code], settled: 1, decrements: ["p1"], outcomes: [outcome], discards: [] });
    if (method === "Fail") {
      // A trailers-only answer: its metadata, and nothing else, becomes headers.
      expect(ans.headers["trailer-x-m"]).toBe("v");
      expect(Object.keys(ans.headers).filter((k) => k !== "date").sort()).toEqual([":status", "content-type", "trailer-date", "trailer-x-m"]);
    }
  });

  it("a call without a runtime id reports and releases under the empty id", async () => {
    setup = { protocol: "connect-unary", runtimeId: null };
    await call(unaryProto("Echo"), (req) => req.end("x"));
    await settledCall();
    expect(rec).toMatchObject({ ends: ["ok"], decrements: [""], outcomes: ["success "] });
  });

  it("a provider that resets the stream: Unavailable, a hard failure", async () => {
    setup = { protocol: "grpc-web" };
    const ans = await call(grpcWeb("Reset"), (req) => req.end(envelope("x")));
    await settledCall();
    expect(envelopes(ans.body).at(-1)!.payload.toString()).toContain("grpc-status: 14\r\n");
    expect(rec).toMatchObject({ ends: ["unavailable"], settled: 1, decrements: ["p1"], outcomes: ["failure p1 hard"] });
  });

  it("a caller that cancels: the provider's stream is cancelled, the call ends canceled, no outlier report", async () => {
    setup = { protocol: "grpc-web" };
    const before = a.seen.length;
    await call(grpcWeb("Hang"), (req) => req.write(envelope("x")), { onResponse: (req) => req.close(NGHTTP2_CANCEL) });
    await settledCall();
    await until(() => a.seen[before]?.rstCode !== undefined, "the provider's stream to close");
    expect(a.seen[before]!.rstCode).toBe(NGHTTP2_CANCEL);
    expect(rec).toMatchObject({ ends: ["canceled"], settled: 1, decrements: ["p1"], outcomes: [] });
  });

  it("cancel(error) (the caller's credential ended): the caller gets that error", async () => {
    setup = { protocol: "connect-stream" };
    const ans = await call(connectStream("Hang"), (req) => req.write(envelope("x")), {
      onResponse: () => rec.cancel!(new ConnectError("credential expired", Code.Unauthenticated)),
    });
    await settledCall();
    expect(endStreamOf(ans.body).error).toEqual({ code: "unauthenticated", message: "credential expired" });
    expect(rec).toMatchObject({ ends: ["unauthenticated"], settled: 1 });
  });

  it("the router's deadline ends a call whose provider ignores grpc-timeout", async () => {
    setup = { protocol: "connect-unary", timeoutMs: 200 };
    const ans = await call(unaryProto("Hang"), (req) => req.write("x"));
    await settledCall();
    expect(JSON.parse(ans.body.toString())).toEqual({ code: "deadline_exceeded", message: "deadline exceeded" });
    expect(rec.ends).toEqual(["deadline_exceeded"]);
  });

  it("a provider whose session cannot take a stream: Unavailable at once, its session discarded, the upload reset", async () => {
    setup = { protocol: "connect-unary", brokenOrigins: [new URL(a.url).origin] };
    // The caller never ends its request: only the router's reset closes its stream.
    const ans = await call(unaryProto("Echo"), (req) => req.write("x"));
    await settledCall();
    expect(ans.headers[":status"]).toBe(503);
    expect(JSON.parse(ans.body.toString())).toEqual({ code: "unavailable", message: "provider unavailable" });
    expect(rec).toMatchObject({ ends: ["unavailable"], settled: 1, decrements: ["p1"], discards: [new URL(a.url).origin] });
    rec.cancel!(new ConnectError("late", Code.Canceled));
  });
});

describe("bridgeCall: the provider's stream ends early", () => {
  it("data without trailers: Unavailable after the whole messages", async () => {
    setup = { protocol: "grpc-web" };
    const ans = await call(grpcWeb("NoTrailers"), (req) => req.end(envelope("x")));
    const [m, trailer] = envelopes(ans.body);
    expect(m!.payload.toString()).toBe("m");
    expect(trailer!.payload.toString()).toContain("grpc-status: 14\r\n");
  });

  it("gRPC-Web text, the provider dying at a message boundary: the whole message, then the error, in valid base64", async () => {
    setup = { protocol: "grpc-web-text" };
    const ans = await call({ ":path": "/t.v1.S/DieAtBoundary", "content-type": "application/grpc-web-text+proto" }, (req) =>
      req.end(Buffer.from(envelope("x").toString("base64"))),
    );
    const text = ans.body.toString("latin1");
    const decoded = Buffer.concat((text.match(/[^=]+=*/g) ?? []).map((r) => Buffer.from(r, "base64")));
    const [m, trailer] = envelopes(decoded);
    expect(m).toEqual({ flags: 0, payload: Buffer.from("ab") });
    expect(trailer!.flags).toBe(0x80);
    expect(trailer!.payload.toString()).toContain("grpc-status: 14\r\n");
  });

  it("the provider dying mid-message: the caller gets the whole messages, then the error", async () => {
    setup = { protocol: "grpc-web" };
    const ans = await call(grpcWeb("DieMidMessage"), (req) => req.end(envelope("x")));
    const [m, trailer, ...rest] = envelopes(ans.body);
    expect(m).toEqual({ flags: 0, payload: Buffer.from("whole") });
    expect(trailer!.payload.toString()).toContain("grpc-status: 14\r\n");
    expect(rest).toEqual([]);
  });

  it("the provider dying inside a message too large to hold back: the caller's stream is reset", async () => {
    setup = { protocol: "grpc-web", limit: Infinity };
    const ans = await call(grpcWeb("DieInHugeMessage"), (req) => req.end(envelope("x")));
    // Cut inside the message: no trailer frame, no trailers, the stream reset.
    expect(ans.body.readUInt32BE(1)).toBe(5 << 20);
    expect(ans.body.length).toBeLessThan(5 + (5 << 20));
    expect(ans.trailers).toBeUndefined();
    await settledCall();
    expect(rec.ends).toEqual(["unavailable"]);
  });
});

describe("bridgeCall: backpressure both ways", () => {
  it("a slow provider and a slow caller: every byte passes (the drain listeners resume both sides)", async () => {
    setup = { protocol: "grpc-web", limit: Infinity };
    const chunk = envelope(Buffer.alloc(256 * 1024, 3));
    const ans = await call(grpcWeb("Slow"), (req) => {
      for (let i = 0; i < 4; i++) req.write(chunk);
      req.end();
    }, { slowReader: true });
    await settledCall();
    const got = envelopes(ans.body);
    expect(got.map((m) => m.payload.length).slice(0, 4)).toEqual(Array(4).fill(chunk.length - 5));
    expect(got[4]!.payload.toString()).toContain("grpc-status: 0");
    expect(rec.ends).toEqual(["ok"]);
  });

  it("an answer larger than the caller's window passes (the caller's drain resumes the provider)", async () => {
    setup = { protocol: "connect-stream", limit: Infinity };
    const ans = await call(connectStream("Large"), (req) => req.end(envelope("x")), { slowReader: true });
    const got = envelopes(ans.body);
    expect(got[0]!.payload.length).toBe(1 << 20);
    expect(got.at(-1)!.flags).toBe(2);
  });
});

describe("bridgeCall: response headers for a Connect streaming caller", () => {
  it("a compressed answer keeps its encoding (connect-content-encoding)", async () => {
    setup = { protocol: "connect-stream" };
    const ans = await call(connectStream("GzipString"), (req) => req.end(envelope("x")));
    expect(ans.headers["connect-content-encoding"]).toBe("gzip");
    expect(ans.headers["grpc-encoding"]).toBeUndefined();
    expect(envelopes(ans.body)[0]!.flags).toBe(1);
  });
});

describe("bridgeCall: JSON callers", () => {
  it("Connect unary JSON both ways; the caller's encodings do not reach the provider", async () => {
    setup = { protocol: "connect-unary", json: json() };
    const before = a.seen.length;
    const ans = await call(
      { ":path": "/t.v1.S/Echo", "content-type": "application/json", "connect-accept-encoding": "gzip" },
      (req) => req.end('"hello"'),
    );
    expect(ans.body.toString()).toBe('"hello"');
    expect(unstr(envelopes(a.seen[before]!.body)[0]!.payload)).toBe("hello");
    expect(a.seen[before]!.headers["grpc-encoding"]).toBeUndefined();
    expect(a.seen[before]!.headers["grpc-accept-encoding"]).toBeUndefined();
  });

  it("Connect streaming JSON, gzipped both ways: decoded by the router, the provider sees neither encoding header", async () => {
    setup = { protocol: "connect-stream", json: json() };
    const before = a.seen.length;
    const ans = await call(connectJson("GzipString", { "connect-content-encoding": "gzip", "connect-accept-encoding": "gzip" }), (req) =>
      req.end(envelope(gzipSync('"up"'), 1)),
    );
    expect(unstr(envelopes(a.seen[before]!.body)[0]!.payload)).toBe("up");
    expect(a.seen[before]!.headers["grpc-encoding"]).toBeUndefined();
    expect(a.seen[before]!.headers["grpc-accept-encoding"]).toBeUndefined();
    const [m, end] = envelopes(ans.body);
    expect(m).toEqual({ flags: 0, payload: Buffer.from('"zipped"') });
    expect(end!.flags).toBe(2);
  });

  it("Connect GET with a JSON message", async () => {
    setup = { protocol: "connect-unary", json: json() };
    const ans = await call({ ":method": "GET", ":path": "/t.v1.S/Echo?connect=v1&encoding=json&message=%22got%22" });
    expect(ans.body.toString()).toBe('"got"');
  });

  it("a request that is not valid JSON: InvalidArgument, unary and streaming; nothing reaches the provider", async () => {
    setup = { protocol: "connect-unary", json: json() };
    const unary = await call({ ":path": "/t.v1.S/Echo", "content-type": "application/json" }, (req) => req.end("{not json"));
    expect(unary.headers[":status"]).toBe(400);
    expect(JSON.parse(unary.body.toString()).code).toBe("invalid_argument");
    setup = { protocol: "connect-stream", json: json() };
    const before = a.seen.length;
    const stream = await call(connectJson("Echo"), (req) => req.end(Buffer.concat([envelope("{not json"), envelope('"second"')])));
    expect(endStreamOf(stream.body).error?.code).toBe("invalid_argument");
    expect(a.seen.slice(before).every((s) => s.body.length === 0)).toBe(true);
  });

  it("a codec that throws something else: Internal, translation failed", async () => {
    const broken = { request: () => { throw new Error("boom"); }, response: () => Buffer.from("") } as unknown as JsonCodec;
    setup = { protocol: "connect-stream", json: broken };
    const ans = await call(connectJson("Echo"), (req) => req.end(envelope('"x"')));
    expect(endStreamOf(ans.body).error).toEqual({ code: "internal", message: "translation failed" });
  });

  it("an answer that does not decode: Internal, unary and streaming", async () => {
    setup = { protocol: "connect-unary", json: json() };
    const unary = await call({ ":path": "/t.v1.S/NotAString", "content-type": "application/json" }, (req) => req.end('"x"'));
    expect(unary.headers[":status"]).toBe(500);
    expect(unary.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(unary.body.toString())).toEqual({ code: "internal", message: "provider answered a message that is not a google.protobuf.StringValue" });
    await settledCall();
    expect(rec.ends).toEqual(["internal"]);
    setup = { protocol: "connect-stream", json: json() };
    const stream = await call(connectJson("NotAString"), (req) => req.end(envelope('"x"')));
    expect(envelopes(stream.body).length).toBe(1);
    expect(endStreamOf(stream.body).error?.code).toBe("internal");
  });

  it("messages over the limit, either way: ResourceExhausted", async () => {
    setup = { protocol: "connect-stream", json: json() };
    const req = await call(connectJson("Echo"), (r) => r.end(envelope(`"${"a".repeat(100)}"`)));
    expect(endStreamOf(req.body).error).toEqual({ code: "resource_exhausted", message: "request message larger than 64 bytes" });
    const res = await call(connectJson("Big"), (r) => r.end(envelope('"x"')));
    expect(endStreamOf(res.body).error).toEqual({ code: "resource_exhausted", message: "response message larger than 64 bytes" });
  });

  it("a JSON call is never retried", async () => {
    setup = { protocol: "connect-stream", json: json(), retarget: async () => b.url };
    const ans = await call(connectJson("Refuse"), (req) => req.end(envelope('"x"')));
    expect(endStreamOf(ans.body).error?.code).toBe("unavailable");
    expect(rec.retargets).toBe(0);
  });
});

describe("bridgeCall: the one safe retry (a refused stream goes to the next provider)", () => {
  const refuseThenB = async (gate: Promise<void> = Promise.resolve()) => {
    await gate;
    return b.url;
  };

  it("the caller's request, ended while the next provider was looked up, reaches it whole", async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    setup = { protocol: "connect-stream", retarget: () => refuseThenB(gate) };
    const before = b.seen.length;
    const ans = await call(connectStream("Refuse"), async (req) => {
      req.write(envelope("one"));
      await until(() => rec.retargets === 1, "the retry");
      req.end(envelope("two"));
      setTimeout(open, 50);
    });
    await settledCall();
    expect(envelopes(b.seen[before]!.body).map((m) => m.payload.toString())).toEqual(["one", "two"]);
    expect(envelopes(ans.body).map((m) => m.payload.toString()).slice(0, 2)).toEqual(["one", "two"]);
    expect(ans.headers["x-h"]).toBe("b");
    expect(rec).toMatchObject({ ends: ["ok"], settled: 1, increments: ["p2"], decrements: ["p1", "p2"], outcomes: ["failure p1 hard", "success p2"] });
    expect(rec.discards).toEqual([new URL(a.url).origin]);
  });

  it("the caller still sending when the next provider takes over: the rest follows", async () => {
    setup = { protocol: "connect-stream", retarget: () => refuseThenB() };
    const before = b.seen.length;
    const ans = await call(connectStream("Refuse"), async (req) => {
      req.write(envelope("one"));
      await until(() => b.seen.length > before, "the retried stream");
      req.end(envelope("two"));
    });
    expect(envelopes(b.seen[before]!.body).map((m) => m.payload.toString())).toEqual(["one", "two"]);
    expect(envelopes(ans.body).at(-1)!.flags).toBe(2);
  });

  it("a unary call whose body ends while the next provider is looked up", async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    setup = { protocol: "connect-unary", retarget: () => refuseThenB(gate) };
    const ans = await call(unaryProto("Refuse"), async (req) => {
      req.write("un");
      await until(() => rec.retargets === 1, "the retry");
      req.end("ary");
      setTimeout(open, 50);
    });
    expect(ans.body.toString()).toBe("unary");
  });

  it.each([
    ["no next provider", async () => undefined],
    ["the look-up failing", async () => Promise.reject(new Error("store down"))],
  ])("%s: Unavailable, the in-flight count taken back once", async (_, retarget) => {
    setup = { protocol: "connect-unary", retarget };
    const ans = await call(unaryProto("Refuse"), (req) => req.end("x"));
    await settledCall();
    expect(JSON.parse(ans.body.toString())).toEqual({ code: "unavailable", message: "provider unavailable" });
    expect(rec).toMatchObject({ ends: ["unavailable"], retargets: 1, decrements: ["p1"], increments: [] });
  });

  it("the next provider's session cannot take a stream: Unavailable", async () => {
    setup = { protocol: "connect-unary", retarget: () => refuseThenB(), brokenOrigins: [new URL(b.url).origin] };
    const ans = await call(unaryProto("Refuse"), (req) => req.end("x"));
    await settledCall();
    expect(JSON.parse(ans.body.toString())).toEqual({ code: "unavailable", message: "provider unavailable" });
    expect(rec).toMatchObject({ ends: ["unavailable"], increments: ["p2"], decrements: ["p1", "p2"] });
  });

  it("the deadline passing while the next provider is looked up: DeadlineExceeded at once", async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    setup = { protocol: "connect-unary", timeoutMs: 200, retarget: () => refuseThenB(gate) };
    const before = b.seen.length;
    const ans = await call(unaryProto("Refuse"), (req) => req.end("x"));
    expect(JSON.parse(ans.body.toString())).toEqual({ code: "deadline_exceeded", message: "deadline exceeded" });
    open();
    await settledCall();
    expect(rec.ends).toEqual(["deadline_exceeded"]);
    await tick();
    expect(b.seen.length).toBe(before);
  });
});

describe("bridgeCall: outlier reports without a runtime id or a detector", () => {
  it.each([
    ["Unavail", "failure  soft"],
    ["Reset", "failure  hard"],
  ])("%s without a runtime id: reported under the empty id (%s)", async (method, outcome) => {
    setup = { protocol: "grpc-web", runtimeId: null };
    await call(grpcWeb(method), (req) => req.end(envelope("x")));
    await settledCall();
    expect(rec).toMatchObject({ ends: ["unavailable"], outcomes: [outcome] });
  });

  it("a provider that resets the stream on a call without an outlier detector: Unavailable all the same", async () => {
    setup = { protocol: "grpc-web", noOutliers: true };
    const ans = await call(grpcWeb("Reset"), (req) => req.end(envelope("x")));
    await settledCall();
    expect(envelopes(ans.body).at(-1)!.payload.toString()).toContain("grpc-status: 14\r\n");
    expect(rec).toMatchObject({ ends: ["unavailable"], settled: 1, decrements: ["p1"], outcomes: [] });
  });
});

describe("bridgeCall: the caller still sending after its answer", () => {
  it("the provider answering and refusing the rest: the caller may still send and end its request (no reset), ok", async () => {
    setup = { protocol: "grpc-web" };
    const ans = await call(grpcWeb("AnswerThenReset"), async (req) => {
      req.write(envelope("x"));
      // The provider's stream closed and the call ended: the caller still sends, then ends its request.
      await until(() => rec.ends.length > 0, "the call to end");
      req.end(envelope("y"));
    });
    await settledCall();
    expect(envelopes(ans.body).at(-1)!.payload.toString()).toContain("grpc-status: 0\r\n");
    expect(ans.rstCode).toBe(NGHTTP2_NO_ERROR);
    // Both messages reached the router (a reset after the answer would have dropped the second).
    expect(rec).toMatchObject({ ends: ["ok"], outcomes: ["success p1"], requestBytes: 2 * envelope("x").length });
  });

  it("a caller that resets its stream after its whole answer, before the provider's stream closed: ok, not canceled", async () => {
    setup = { protocol: "grpc-web" };
    const before = a.seen.length;
    const ans = await call(grpcWeb("AnswerNow"), (req) => {
      req.write(envelope("x"));
      req.on("end", () => req.close(NGHTTP2_CANCEL));
    });
    await settledCall();
    expect(envelopes(ans.body).at(-1)!.payload.toString()).toContain("grpc-status: 0\r\n");
    await until(() => a.seen[before]?.rstCode !== undefined, "the provider's stream to close");
    expect(rec).toMatchObject({ ends: ["ok"], settled: 1, decrements: ["p1"], outcomes: ["success p1"] });
  });
});

describe("bridgeCall: the router failing the call as the provider's answer arrives (a listener of the test runs first)", () => {
  const expired = () => new ConnectError("credential expired", Code.Unauthenticated);

  it.each(["grpc-web", "connect-unary"] as const)("%s: cancel(error) as the trailers-only answer arrives: the caller gets that error, not the answer", async (protocol) => {
    setup = { protocol, onUpstream: (up) => up.once("response", () => rec.cancel!(expired())) };
    const ans = await call(protocol === "grpc-web" ? grpcWeb("Fail") : unaryProto("Fail"), (req) => req.end(protocol === "grpc-web" ? envelope("x") : "x"));
    await settledCall();
    if (protocol === "grpc-web") {
      expect(envelopes(ans.body).at(-1)!.payload.toString()).toContain("grpc-status: 16\r\n");
    } else {
      expect(JSON.parse(ans.body.toString())).toEqual({ code: "unauthenticated", message: "credential expired" });
    }
    expect(rec).toMatchObject({ ends: ["unauthenticated"], settled: 1, outcomes: [] });
  });

  it("cancel(error) as the first message arrives: the message is not passed on, the caller gets the error", async () => {
    setup = { protocol: "connect-stream", onUpstream: (up) => up.once("data", () => rec.cancel!(expired())) };
    const ans = await call(connectStream("Echo"), (req) => req.end(envelope("x")));
    await settledCall();
    const got = envelopes(ans.body);
    expect(got.length).toBe(1);
    expect(endStreamOf(ans.body).error).toEqual({ code: "unauthenticated", message: "credential expired" });
    expect(rec.ends).toEqual(["unauthenticated"]);
  });

  it.each([
    ["trailers-only answer arrives", "Fail", "response"],
    ["headers arrive", "Echo", "response"],
    ["answer ends (message and trailers)", "Echo", "end"],
    // The caller's stream then only closed (its request not ended), not yet destroyed.
    ["answer ends, the caller still sending", "AnswerStreaming", "end"],
  ])("the caller gone (its stream reset) as the provider's %s: nothing more is written, canceled, no outlier report", async (_, method, event) => {
    setup = { protocol: "connect-stream", onUpstream: (up, caller) => up.once(event, () => caller.close(NGHTTP2_CANCEL)) };
    // Writing headers to the closed stream would throw from the provider stream's listener: an uncaught exception.
    const crashes: unknown[] = [];
    const crashed = (e: unknown) => void crashes.push(e);
    process.on("uncaughtException", crashed);
    let ans: Answer;
    try {
      ans = await call(connectStream(method), (req) => (method === "Echo" || method === "Fail" ? req.end(envelope("x")) : req.write(envelope("x"))));
      await settledCall();
    } finally {
      process.off("uncaughtException", crashed);
    }
    expect(crashes).toEqual([]);
    if (event === "response") expect(ans.rstCode).toBe(NGHTTP2_CANCEL);
    // No end-stream message (nor, when reset at the headers, anything).
    expect(envelopes(ans.body).map((m) => m.flags)).toEqual(event === "end" ? [0] : []);
    expect(rec).toMatchObject({ ends: ["canceled"], settled: 1, decrements: ["p1"], outcomes: [] });
  });

  it("the deadline passing after the caller's whole answer, before the provider's stream closed: the call ended ok", async () => {
    setup = {
      protocol: "grpc-web",
      onUpstream: (up) => up.once("close", () => rec.cancel!(new ConnectError("deadline exceeded", Code.DeadlineExceeded))),
    };
    const ans = await call(grpcWeb("AnswerThenReset"), async (req) => {
      req.write(envelope("x"));
      await until(() => rec.ends.length > 0, "the call to end");
      req.end();
    });
    await settledCall();
    expect(envelopes(ans.body).at(-1)!.payload.toString()).toContain("grpc-status: 0\r\n");
    expect(ans.rstCode).toBe(NGHTTP2_NO_ERROR);
    expect(rec).toMatchObject({ ends: ["ok"], settled: 1, decrements: ["p1"], outcomes: ["success p1"] });
  });
});

describe("forwardCall, in the same harness: the end of a call whose answer was whole", () => {
  it("the deadline passing after the caller's whole answer, before the provider's stream closed: the call ended ok", async () => {
    setup = {
      protocol: "grpc",
      passthrough: true,
      onUpstream: (up) => up.once("close", () => rec.cancel!(new ConnectError("deadline exceeded", Code.DeadlineExceeded))),
    };
    const ans = await call({ ":path": "/t.v1.S/AnswerStreaming", "content-type": "application/grpc", te: "trailers" }, (req) => req.end(envelope("x")));
    await settledCall();
    expect(envelopes(ans.body).map((m) => m.payload.toString())).toEqual(["m"]);
    // The answer stands: its trailers reach the caller (a late cancel reset the caller's stream instead).
    expect(ans.trailers?.["grpc-status"]).toBe("0");
    expect(ans.rstCode).toBe(NGHTTP2_NO_ERROR);
    expect(rec).toMatchObject({ ends: ["ok"], settled: 1, decrements: ["p1"], outcomes: ["success p1"] });
  });
});

describe("bridgeCall: the caller sending past the replay budget while the next provider is looked up", () => {
  it("no retry: Unavailable, the next provider never called", async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    setup = {
      protocol: "connect-stream",
      retarget: async () => {
        await gate;
        return b.url;
      },
    };
    const before = b.seen.length;
    const ans = await call(connectStream("Refuse"), async (req) => {
      req.write(envelope("one"));
      await until(() => rec.retargets === 1, "the retry");
      // The budget is one message of the limit (64 bytes) and its prefix: three of 40 bytes exceed it.
      for (let i = 0; i < 3; i++) req.write(envelope(Buffer.alloc(40, i)));
      req.end();
      setTimeout(open, 50);
    });
    await settledCall();
    expect(endStreamOf(ans.body).error).toEqual({ code: "unavailable", message: "provider unavailable" });
    expect(rec).toMatchObject({ ends: ["unavailable"], retargets: 1, increments: [], decrements: ["p1"] });
    expect(b.seen.length).toBe(before);
  });
});
