import http2, { type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { gunzipSync, gzipSync } from "node:zlib";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADER_CALLER, verifyCallerHeader } from "../../../src/protocol/index.js";
import type { CallEndInfo, RouteTarget } from "../../../src/router/index.js";
import type { OutlierDetector } from "../../../src/router/outlier-ejection.js";
import { SIGNING_KEY, listen, startFront, stubRouterOptions } from "./harness.js";

/*
 * The protocol bridge byte by byte: raw HTTP/2 callers (Connect, gRPC-Web, gRPC-Web text) in front of a
 * hand-written gRPC-only provider whose every answer the test chooses (metadata, trailers-only errors,
 * missing status, HTTP errors, compressed or extra messages). bridge.test.ts checks the same bridge
 * through real connect-es clients and a connect-node provider.
 */

interface Seen {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function envelope(payload: Buffer | string, flags = 0): Buffer {
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

const GRPC_OK = { ":status": 200, "content-type": "application/grpc" };

/** What the raw provider does, by method name. */
const behaviours: Record<string, (s: ServerHttp2Stream, body: Buffer) => void> = {
  // Echoes every request message, with response metadata and a trailer.
  Echo(s, body) {
    s.respond({ ...GRPC_OK, "x-h": "1", "grpc-accept-encoding": "gzip" }, { waitForTrailers: true });
    s.once("wantTrailers", () => s.sendTrailers({ "grpc-status": "0", "x-t": "2" }));
    s.end(body);
  },
  // Trailers-only error with metadata and details.
  Fail(s) {
    s.respond({ ...GRPC_OK, "grpc-status": "5", "grpc-message": "gone%20away", "x-m": "v" }, { endStream: true });
  },
  // An error after a message (trailers with the status).
  Late(s) {
    s.respond(GRPC_OK, { waitForTrailers: true });
    s.once("wantTrailers", () => s.sendTrailers({ "grpc-status": "9", "grpc-message": "late: 100%25", "x-t": "3" }));
    s.end(envelope("first"));
  },
  NoStatus(s) {
    s.respond(GRPC_OK, { waitForTrailers: true });
    s.once("wantTrailers", () => s.sendTrailers({ "x-t": "4" }));
    s.end(envelope("m"));
  },
  Unavail(s) {
    s.respond({ ...GRPC_OK, "grpc-status": "14", "grpc-message": "overloaded" }, { endStream: true });
  },
  Http503(s) {
    s.respond({ ":status": 503 });
    s.end("busy");
  },
  Two(s) {
    s.respond(GRPC_OK, { waitForTrailers: true });
    s.once("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
    s.end(Buffer.concat([envelope("a"), envelope("b")]));
  },
  Empty(s) {
    s.respond(GRPC_OK, { waitForTrailers: true });
    s.once("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
    s.end();
  },
  Gzipped(s) {
    s.respond({ ...GRPC_OK, "grpc-encoding": "gzip" }, { waitForTrailers: true });
    s.once("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
    s.end(envelope(gzipSync(Buffer.from("zipped answer")), 1));
  },
  Big(s) {
    s.respond(GRPC_OK, { waitForTrailers: true });
    s.once("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
    s.end(Buffer.concat([envelope("ok"), envelope(Buffer.alloc(600, 1))]));
  },
};

let provider: http2.Http2Server;
let front: Awaited<ReturnType<typeof startFront>>;
let refused: RouteTarget["endpoint"];
const seen: Seen[] = [];
const ends: CallEndInfo[] = [];
const outcomes: string[] = [];
const outliers: OutlierDetector = {
  failure: (id, hard) => void outcomes.push(`failure ${id} ${hard ? "hard" : "soft"}`),
  success: (id) => void outcomes.push(`success ${id}`),
  filter: (c) => c,
  ejectedCount: () => 0,
  ejectionsTotal: () => 0,
};

/** The router's end-of-call record and outlier report for the next call (they come once the provider's stream closed). */
async function settled(from: number): Promise<{ code: string; outcome: string | undefined }> {
  // The outcome is reported before the call-end record; waits up to 5 s for that record.
  for (let i = 0; i < 500 && ends.length <= from; i++) await new Promise((r) => setTimeout(r, 10));
  return { code: ends[from]!.code, outcome: outcomes[from] };
}

beforeAll(async () => {
  provider = http2.createServer();
  provider.on("stream", (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      const body = Buffer.concat(chunks);
      seen.push({ headers, body });
      const method = String(headers[":path"]).split("/")[2]!;
      (behaviours[method] ?? behaviours["Echo"]!)(stream as ServerHttp2Stream, body);
    });
  });
  const url = await listen(provider);
  // A port nothing listens on: the provider is down.
  const gone = http2.createServer();
  refused = await listen(gone);
  await new Promise<void>((resolve) => gone.close(() => resolve()));
  front = await startFront(
    stubRouterOptions(() => url, {
      maxMessageBytes: 512,
      maxResponseMessageBytes: 512,
      outliers,
      onCallEnd: (info) => void ends.push(info),
      async resolve(service): Promise<RouteTarget> {
        return { runtimeId: "raw-1", registrationId: "reg-raw", endpoint: service === "down.v1.S" ? refused : url, signingKey: SIGNING_KEY, protocols: [] };
      },
    }),
  );
});
afterAll(async () => {
  await front.close();
  await new Promise<void>((resolve) => provider.close(() => resolve()));
});

interface Answer {
  headers: IncomingHttpHeaders;
  body: Buffer;
  trailers: IncomingHttpHeaders | undefined;
}

async function call(headers: OutgoingHttpHeaders, body?: Buffer | string): Promise<Answer> {
  const session = http2.connect(front.url);
  try {
    return await new Promise<Answer>((resolve, reject) => {
      const req = session.request({ ":method": "POST", authorization: "Bearer pbrt_alice", ...headers });
      const chunks: Buffer[] = [];
      let response: IncomingHttpHeaders = {};
      let trailers: IncomingHttpHeaders | undefined;
      req.on("response", (h) => (response = h));
      req.on("trailers", (t) => (trailers = t));
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => resolve({ headers: response, body: Buffer.concat(chunks), trailers }));
      req.on("error", reject);
      req.end(body);
    });
  } finally {
    await new Promise<void>((resolve) => setImmediate(resolve));
    session.close();
  }
}

const last = () => seen[seen.length - 1]!;

describe("bridge: Connect unary caller → gRPC provider", () => {
  it("the request becomes one gRPC envelope with gRPC headers; the answer carries header and trailer metadata", async () => {
    const a = await call(
      { ":path": "/raw.v1.S/Echo", "content-type": "application/proto", "connect-protocol-version": "1", "connect-timeout-ms": "5000", "accept-encoding": "gzip", "x-app": "1" },
      "hello",
    );
    const req = last();
    expect(req.headers[":method"]).toBe("POST");
    expect(req.headers[":path"]).toBe("/raw.v1.S/Echo");
    expect(req.headers["content-type"]).toBe("application/grpc+proto");
    expect(req.headers["te"]).toBe("trailers");
    expect(req.headers["grpc-timeout"]).toMatch(/^\d+m$/);
    expect(req.headers["grpc-accept-encoding"]).toBe("gzip");
    expect(req.headers["x-app"]).toBe("1");
    expect(req.headers["connect-protocol-version"]).toBeUndefined();
    expect(req.headers["authorization"]).toBeUndefined();
    expect(verifyCallerHeader(String(req.headers[HEADER_CALLER]), SIGNING_KEY, "/raw.v1.S/Echo")?.subject).toBe("runtime:alice");
    expect(envelopes(req.body)).toEqual([{ flags: 0, payload: Buffer.from("hello") }]);
    expect(a.headers[":status"]).toBe(200);
    expect(a.headers["content-type"]).toBe("application/proto");
    expect(a.headers["x-h"]).toBe("1");
    expect(a.headers["trailer-x-t"]).toBe("2");
    expect(a.headers["accept-encoding"]).toBe("gzip");
    expect(a.headers["content-encoding"]).toBeUndefined();
    expect(a.body.toString()).toBe("hello");
  });

  it("a gzipped request goes on as a compressed envelope; a compressed answer comes back with its encoding", async () => {
    await call({ ":path": "/raw.v1.S/Echo", "content-type": "application/proto", "content-encoding": "gzip" }, gzipSync("zz"));
    const [m] = envelopes(last().body);
    expect(m!.flags).toBe(1);
    expect(gunzipSync(m!.payload).toString()).toBe("zz");
    expect(last().headers["grpc-encoding"]).toBe("gzip");
    await call({ ":path": "/raw.v1.S/Echo", "content-type": "application/proto", "content-encoding": "identity" }, "plain");
    expect(envelopes(last().body)[0]!.flags).toBe(0);
    expect(last().headers["grpc-encoding"]).toBeUndefined();
    const a = await call({ ":path": "/raw.v1.S/Gzipped", "content-type": "application/proto" }, "x");
    expect(a.headers["content-encoding"]).toBe("gzip");
    expect(gunzipSync(a.body).toString()).toBe("zipped answer");
  });

  it("GET: the query message (compressed or not) is the envelope; the query leaves the path", async () => {
    const a = await call({ ":method": "GET", ":path": "/raw.v1.S/Echo?connect=v1&encoding=proto&message=hi%21" });
    expect(a.body.toString()).toBe("hi!");
    expect(last().headers[":path"]).toBe("/raw.v1.S/Echo");
    expect(envelopes(last().body)).toEqual([{ flags: 0, payload: Buffer.from("hi!") }]);
    const zipped = gzipSync("gz").toString("base64url");
    await call({ ":method": "GET", ":path": `/raw.v1.S/Echo?connect=v1&encoding=proto&base64=1&compression=gzip&message=${zipped}` });
    expect(envelopes(last().body)[0]!.flags).toBe(1);
    await call({ ":method": "GET", ":path": "/raw.v1.S/Echo?connect=v1&encoding=proto&compression=identity&message=x" });
    expect(envelopes(last().body)[0]!.flags).toBe(0);
    const bad = await call({ ":method": "GET", ":path": "/raw.v1.S/Echo?connect=v1&encoding=proto" });
    expect(bad.headers[":status"]).toBe(400);
    expect(JSON.parse(bad.body.toString())).toMatchObject({ code: "invalid_argument", message: "Connect GET request without a message parameter" });
    const big = await call({ ":method": "GET", ":path": `/raw.v1.S/Echo?connect=v1&encoding=proto&message=${"a".repeat(513)}` });
    expect(JSON.parse(big.body.toString())).toMatchObject({ code: "resource_exhausted", message: "request message larger than 512 bytes" });
  });

  it("errors: trailers-only status with metadata, a missing status, an HTTP error, no or two messages", async () => {
    const fail = await call({ ":path": "/raw.v1.S/Fail", "content-type": "application/proto" }, "x");
    expect(fail.headers[":status"]).toBe(404);
    expect(fail.headers["content-type"]).toBe("application/json");
    expect(fail.headers["trailer-x-m"]).toBe("v");
    expect(fail.headers["grpc-status"]).toBeUndefined();
    expect(JSON.parse(fail.body.toString())).toEqual({ code: "not_found", message: "gone away" });
    const none = await call({ ":path": "/raw.v1.S/NoStatus", "content-type": "application/proto" }, "x");
    expect(JSON.parse(none.body.toString())).toEqual({ code: "internal", message: "protocol error: the provider sent no grpc-status" });
    expect(none.headers["trailer-x-t"]).toBe("4");
    const http = await call({ ":path": "/raw.v1.S/Http503", "content-type": "application/proto" }, "x");
    expect(http.headers[":status"]).toBe(503);
    expect(JSON.parse(http.body.toString())).toEqual({ code: "unavailable", message: "provider answered HTTP 503" });
    const empty = await call({ ":path": "/raw.v1.S/Empty", "content-type": "application/proto" }, "x");
    expect(JSON.parse(empty.body.toString())).toEqual({ code: "unimplemented", message: "protocol error: missing output message for unary method" });
    const two = await call({ ":path": "/raw.v1.S/Two", "content-type": "application/proto" }, "x");
    expect(JSON.parse(two.body.toString())).toEqual({ code: "unimplemented", message: "protocol error: received extra output message for unary method" });
  });

  it("limits: a request or answer over the message limit is ResourceExhausted", async () => {
    const req = await call({ ":path": "/raw.v1.S/Echo", "content-type": "application/proto" }, Buffer.alloc(513));
    expect(req.headers[":status"]).toBe(429);
    expect(JSON.parse(req.body.toString())).toEqual({ code: "resource_exhausted", message: "request message larger than 512 bytes" });
    const res = await call({ ":path": "/raw.v1.S/Big", "content-type": "application/proto" }, "x");
    expect(JSON.parse(res.body.toString())).toEqual({ code: "resource_exhausted", message: "response message larger than 512 bytes" });
  });

  it("a provider that cannot be reached: Unavailable", async () => {
    const a = await call({ ":path": "/down.v1.S/Echo", "content-type": "application/proto" }, "x");
    expect(a.headers[":status"]).toBe(503);
    expect(JSON.parse(a.body.toString())).toEqual({ code: "unavailable", message: "provider unavailable" });
  });
});

describe("bridge: how calls end (the router's call-end record, the outlier detector)", () => {
  it.each([
    ["Echo", "ok", "success raw-1"],
    ["Fail", "not_found", "success raw-1"],
    ["Unavail", "unavailable", "failure raw-1 soft"],
    ["Two", "unimplemented", "success raw-1"],
  ])("unary %s: %s, %s", async (method, code, outcome) => {
    ends.length = 0;
    outcomes.length = 0;
    await call({ ":path": `/raw.v1.S/${method}`, "content-type": "application/proto" }, "x");
    expect(await settled(0)).toEqual({ code, outcome });
    expect(ends[0]).toMatchObject({ service: "raw.v1.S", method, runtimeId: "raw-1" });
  });

  it.each([
    ["Echo", "ok", "success raw-1"],
    ["Late", "failed_precondition", "success raw-1"],
    ["Unavail", "unavailable", "failure raw-1 soft"],
  ])("streaming %s: %s, %s", async (method, code, outcome) => {
    ends.length = 0;
    outcomes.length = 0;
    await call({ ":path": `/raw.v1.S/${method}`, "content-type": "application/grpc-web+proto" }, envelope("x"));
    expect(await settled(0)).toEqual({ code, outcome });
  });

  it("a provider that cannot be reached: unavailable, a hard failure", async () => {
    ends.length = 0;
    outcomes.length = 0;
    await call({ ":path": "/down.v1.S/Echo", "content-type": "application/proto" }, "x");
    const { code } = await settled(0);
    expect(code).toBe("unavailable");
    expect(outcomes).toContain("failure raw-1 hard");
    expect(outcomes.filter((o) => o.startsWith("success"))).toEqual([]);
  });
});

describe("bridge: Connect streaming caller", () => {
  it("messages pass as envelopes; the end-stream message carries the trailers", async () => {
    const a = await call(
      { ":path": "/raw.v1.S/Echo", "content-type": "application/connect+proto", "connect-content-encoding": "gzip", "connect-accept-encoding": "br" },
      Buffer.concat([envelope("one"), envelope("two")]),
    );
    expect(last().headers["grpc-encoding"]).toBe("gzip");
    expect(last().headers["grpc-accept-encoding"]).toBe("br");
    expect(a.headers["content-type"]).toBe("application/connect+proto");
    expect(a.headers["x-h"]).toBe("1");
    expect(a.headers["connect-accept-encoding"]).toBe("gzip");
    const [one, two, end, ...rest] = envelopes(a.body);
    expect([one!.payload.toString(), two!.payload.toString()]).toEqual(["one", "two"]);
    expect(rest).toEqual([]);
    expect(end!.flags).toBe(2);
    expect(JSON.parse(end!.payload.toString())).toEqual({ metadata: expect.objectContaining({ "x-t": ["2"] }) });
  });

  it("an error after a message ends the stream with it; a trailers-only error too", async () => {
    const a = await call({ ":path": "/raw.v1.S/Late", "content-type": "application/connect+proto" }, envelope("x"));
    const [first, end] = envelopes(a.body);
    expect(first!.payload.toString()).toBe("first");
    expect(JSON.parse(end!.payload.toString())).toEqual({ error: { code: "failed_precondition", message: "late: 100%" }, metadata: expect.objectContaining({ "x-t": ["3"] }) });
    const b = await call({ ":path": "/raw.v1.S/Fail", "content-type": "application/connect+proto" }, envelope("x"));
    expect(b.headers[":status"]).toBe(200);
    const [only, ...more] = envelopes(b.body);
    expect(more).toEqual([]);
    expect(JSON.parse(only!.payload.toString())).toEqual({ error: { code: "not_found", message: "gone away" }, metadata: expect.objectContaining({ "x-m": ["v"] }) });
  });

  it("a request message over the limit: ResourceExhausted, nothing of it reaches the provider", async () => {
    const before = seen.length;
    const a = await call({ ":path": "/raw.v1.S/Echo", "content-type": "application/connect+proto" }, envelope(Buffer.alloc(513)));
    const end = envelopes(a.body).at(-1)!;
    expect(JSON.parse(end.payload.toString()).error).toEqual({ code: "resource_exhausted", message: "request message larger than 512 bytes" });
    expect(seen.slice(before).every((s) => s.body.length === 0)).toBe(true);
  });
});

describe("bridge: gRPC-Web callers", () => {
  it("gRPC-Web: messages, then a trailer frame with the status, message and metadata", async () => {
    const a = await call({ ":path": "/raw.v1.S/Late", "content-type": "application/grpc-web+proto", "grpc-accept-encoding": "gzip" }, envelope("x"));
    expect(last().headers["grpc-accept-encoding"]).toBe("gzip");
    expect(a.headers["content-type"]).toBe("application/grpc-web+proto");
    const [first, trailer] = envelopes(a.body);
    expect(first).toEqual({ flags: 0, payload: Buffer.from("first") });
    expect(trailer!.flags).toBe(0x80);
    const text = trailer!.payload.toString();
    expect(text).toContain("grpc-status: 9\r\n");
    expect(text).toContain("grpc-message: late%3A%20100%25\r\n");
    expect(text).toContain("x-t: 3\r\n");
    const ok = await call({ ":path": "/raw.v1.S/Echo", "content-type": "application/grpc-web+proto" }, envelope("y"));
    expect(ok.headers["grpc-accept-encoding"]).toBe("gzip");
    const okTrailer = envelopes(ok.body).at(-1)!.payload.toString();
    expect(okTrailer).toContain("grpc-status: 0\r\n");
    expect(okTrailer).not.toContain("grpc-message");
  });

  it("gRPC-Web text: base64 both ways", async () => {
    const body = Buffer.from(envelope("texty").toString("base64"), "latin1");
    const a = await call({ ":path": "/raw.v1.S/Echo", "content-type": "application/grpc-web-text+proto" }, body);
    expect(envelopes(last().body)).toEqual([{ flags: 0, payload: Buffer.from("texty") }]);
    expect(a.headers["content-type"]).toBe("application/grpc-web-text+proto");
    const text = a.body.toString("latin1");
    expect(text).toMatch(/^[A-Za-z0-9+/=]+$/);
    const decoded = Buffer.concat((text.match(/[^=]+=*/g) ?? []).map((r) => Buffer.from(r, "base64")));
    const [msg, trailer] = envelopes(decoded);
    expect(msg!.payload.toString()).toBe("texty");
    expect(trailer!.flags).toBe(0x80);
    expect(trailer!.payload.toString()).toContain("grpc-status: 0\r\n");
  });

  it("a trailers-only error becomes a trailer frame with the details", async () => {
    const a = await call({ ":path": "/raw.v1.S/Fail", "content-type": "application/grpc-web+proto" }, envelope("x"));
    const [frame, ...rest] = envelopes(a.body);
    expect(rest).toEqual([]);
    expect(frame!.flags).toBe(0x80);
    expect(frame!.payload.toString()).toContain(`grpc-status: ${Code.NotFound}\r\n`);
    expect(frame!.payload.toString()).toContain("x-m: v\r\n");
  });
});
