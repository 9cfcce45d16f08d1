import * as http2 from "node:http2";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextKey, createContextValues, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { GetRequestSchema, GetResponseSchema, KVService } from "../../../gen/kv/v1/kv_pb.js";
import { createHostUnary } from "../../../src/host-unary/index.js";
import { listen, type RunningServer } from "../../../src/host/listen.js";
import { DEFAULT_LIMITS } from "../../../src/protocol/constants.js";
import { createRequestGuard, streamAuthenticatedKey, type RequestGuard } from "../../../src/server-limits/index.js";
import { requestIdKey } from "../../../src/audit/request-id.js";
import { silentLogger } from "../../../src/log/logger.js";

/**
 * The raw-stream unary path must answer exactly as connect-es does. Two servers run the same
 * service, interceptor and limits: one plain connect-es, one with the host-unary claim in front;
 * every request goes to both and the answers (status, headers but the date, body) must be equal.
 */
const READ_MAX = 2048;
const streamKey = createContextKey<string>("none", { description: "set by contextValues" });
let calls = 0;
let claimed = 0;
let lastSignal: AbortSignal | undefined;

const routes = (router: ConnectRouter) =>
  router.service(KVService, {
    async get(req, context) {
      calls++;
      lastSignal = context.signal;
      if (req.key === "connect-error") throw new ConnectError("no such key", Code.NotFound, { "x-meta": "m" });
      if (req.key === "plain-error") throw new Error("an internal detail");
      if (req.key === "slow") await new Promise<void>((r) => context.signal.addEventListener("abort", () => r()));
      context.responseHeader.set("x-h", "1");
      context.responseTrailer.set("x-t", "2");
      const seen = {
        timeout: context.timeoutMs() !== undefined,
        auth: context.requestHeader.get("x-auth"),
        value: context.values.get(streamKey),
        method: context.requestMethod,
        protocol: context.protocolName,
        url: new URL(context.url).pathname,
      };
      return { key: req.key, found: true, caller: JSON.stringify(seen), value: new Uint8Array(req.key === "big" ? 4000 : 3) };
    },
  });

const interceptor: Interceptor = (next) => async (req) => {
  if (req.header.get("x-deny") !== null) throw new ConnectError("denied by interceptor", Code.Unauthenticated);
  const res = await next(req);
  res.header.set("x-seen", `${req.service.typeName}/${req.method.name}`);
  return res;
};

const limits = { ...DEFAULT_LIMITS, requestBodyTimeoutMs: 5_000 };
const adapterOptions = { interceptors: [interceptor], readMaxBytes: READ_MAX, writeMaxBytes: 1_000_000 };
const contextValues = () => createContextValues().set(streamKey, "from-the-stream");

let plain: RunningServer;
let fast: RunningServer;

beforeAll(async () => {
  plain = await listen(connectNodeAdapter({ ...adapterOptions, routes, contextValues }), {}, limits, silentLogger());
  const hostUnary = createHostUnary({ ...adapterOptions, guard: createRequestGuard(limits), contextValues });
  const handler = connectNodeAdapter({ ...adapterOptions, routes: hostUnary.routes(routes), contextValues });
  fast = await listen(
    {
      request: handler,
      claimStream: (...stream) => {
        const taken = hostUnary.claim(...stream);
        if (taken) claimed++;
        return taken;
      },
    },
    {},
    limits,
    silentLogger(),
  );
});

afterAll(async () => {
  await Promise.all([plain?.close(), fast?.close()]);
});

interface Answer {
  status: number;
  headers: Record<string, unknown>;
  body: Buffer;
}

function send(url: string, headers: http2.OutgoingHttpHeaders, body?: Buffer, path = "/kv.v1.KVService/Get"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ":path": path, ...headers });
    let answer: Omit<Answer, "body"> | undefined;
    const chunks: Buffer[] = [];
    req.on("response", (h) => {
      // The date differs; the request id is the host's (the compat path sets it in createPluginHost).
      const { date: _date, "plugboard-request-id": _id, ...rest } = h;
      answer = { status: Number(h[":status"]), headers: rest };
    });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      resolve({ ...answer!, body: Buffer.concat(chunks) });
      setImmediate(() => session.close());
    });
    req.on("error", reject);
    req.end(body);
  });
}

const proto = { "content-type": "application/proto" };
const getBody = (key: string) => Buffer.from(toBinary(GetRequestSchema, create(GetRequestSchema, { key })));

/** Sends to both servers; checks the fast one claimed it (or not) and answered the same. */
async function both(headers: http2.OutgoingHttpHeaders, body?: Buffer, expectClaim = true, path?: string): Promise<Answer> {
  const before = claimed;
  const [a, b] = await Promise.all([send(plain.url, headers, body, path), send(fast.url, headers, body, path)]);
  expect(claimed - before).toBe(expectClaim ? 1 : 0);
  if (a.headers["content-type"] === "application/json") expect(b.body.toString()).toBe(a.body.toString());
  expect(b.status).toBe(a.status);
  expect(b.headers).toEqual(a.headers);
  const decoded = (x: Answer) => (x.headers["content-encoding"] === "gzip" ? gunzipSync(x.body) : x.body);
  expect(decoded(b).equals(decoded(a))).toBe(true);
  return b;
}

describe("host unary path: the same answers as connect-es", () => {
  it("a successful call: message, response headers, trailers as trailer- headers, what the handler sees", async () => {
    const answer = await both({ ...proto, "x-auth": "abc", "connect-timeout-ms": "5000" }, getBody("ok"));
    expect(answer.status).toBe(200);
    expect(answer.headers["x-h"]).toBe("1");
    expect(answer.headers["trailer-x-t"]).toBe("2");
    expect(answer.headers["x-seen"]).toBe("kv.v1.KVService/Get");
    const res = fromBinary(GetResponseSchema, answer.body);
    expect(JSON.parse(res.caller)).toEqual({
      timeout: true,
      auth: "abc",
      value: "from-the-stream",
      method: "POST",
      protocol: "connect",
      url: "/kv.v1.KVService/Get",
    });
  });

  it("errors: a ConnectError with metadata, a plain error, an interceptor's refusal", async () => {
    const notFound = await both(proto, getBody("connect-error"));
    expect(notFound.status).toBe(404);
    expect(notFound.headers["x-meta"]).toBe("m");
    expect(JSON.parse(notFound.body.toString())).toMatchObject({ code: "not_found", message: "no such key" });
    const internal = await both(proto, getBody("plain-error"));
    expect(JSON.parse(internal.body.toString())).toMatchObject({ code: "internal", message: "internal error" });
    const denied = await both({ ...proto, "x-deny": "1" }, getBody("ok"));
    expect(JSON.parse(denied.body.toString())).toMatchObject({ code: "unauthenticated", message: "denied by interceptor" });
  });

  it("protocol errors: a bad timeout, an unknown encoding, a body that is not the message", async () => {
    const timeout = await both({ ...proto, "connect-timeout-ms": "soon" }, getBody("ok"));
    expect(JSON.parse(timeout.body.toString()).code).toBe("invalid_argument");
    const encoding = await both({ ...proto, "content-encoding": "zstd-not-offered" }, getBody("ok"));
    expect(JSON.parse(encoding.body.toString()).code).toBe("unimplemented");
    const garbage = await both(proto, Buffer.from([0xff, 0xff, 0xff]));
    expect(JSON.parse(garbage.body.toString()).code).toBe("internal");
  });

  it("readMaxBytes: announced and unannounced oversize requests are ResourceExhausted", async () => {
    const big = Buffer.from(toBinary(GetRequestSchema, create(GetRequestSchema, { key: "x".repeat(READ_MAX + 10) })));
    const announced = await both({ ...proto, "content-length": String(big.length) }, big);
    expect(JSON.parse(announced.body.toString())).toMatchObject({ code: "resource_exhausted" });
    const unannounced = await both(proto, big);
    expect(JSON.parse(unannounced.body.toString())).toMatchObject({ code: "resource_exhausted" });
  });

  it("compression: a gzip request is read, a large response is gzipped for a client that accepts it", async () => {
    const zipped = await both({ ...proto, "content-encoding": "gzip" }, gzipSync(getBody("ok")));
    expect(zipped.status).toBe(200);
    const large = await both({ ...proto, "accept-encoding": "gzip" }, getBody("big"));
    expect(large.headers["content-encoding"]).toBe("gzip");
    expect(fromBinary(GetResponseSchema, gunzipSync(large.body)).value.length).toBe(4000);
  });

  it("leaves every other request shape to connect-es", async () => {
    const json = await both({ "content-type": "application/json" }, Buffer.from('{"key":"ok"}'), false);
    expect(json.status).toBe(200);
    const grpc = await both({ "content-type": "application/grpc", te: "trailers" }, Buffer.concat([Buffer.from([0, 0, 0, 0, 4]), getBody("ok")]), false);
    expect(grpc.status).toBe(200);
    const streaming = await both(proto, getBody("ok"), false, "/kv.v1.KVService/List");
    expect(streaming.status).toBe(415);
    const unknown = await both(proto, getBody("ok"), false, "/kv.v1.KVService/Nope");
    expect(unknown.status).toBe(404);
  });

  it("the call's signal aborts at the deadline (connect-timeout-ms) with DeadlineExceeded; the handler still answers", async () => {
    const answer = await both({ ...proto, "connect-timeout-ms": "100" }, getBody("slow"));
    expect(answer.status).toBe(200);
    expect(ConnectError.from(lastSignal?.reason).code).toBe(Code.DeadlineExceeded);
  });

  it("the call's signal aborts when the client goes away, and when the call has ended", async () => {
    await both(proto, getBody("ok"));
    expect(lastSignal?.aborted).toBe(true);
    const session = http2.connect(fast.url);
    const before = calls;
    const req = session.request({ ":method": "POST", ":path": "/kv.v1.KVService/Get", ...proto });
    req.on("error", () => undefined);
    req.end(getBody("slow"));
    await expect.poll(() => calls, { timeout: 10_000 }).toBe(before + 1);
    const signal = lastSignal!;
    expect(signal.aborted).toBe(false);
    req.close(http2.constants.NGHTTP2_CANCEL);
    await expect.poll(() => signal.aborted, { timeout: 10_000 }).toBe(true);
    expect(ConnectError.from(signal.reason).code).toBe(Code.Canceled);
    await new Promise((r) => setImmediate(r));
    session.close();
  });
});

describe("host unary path: the request's scope", () => {
  it("gives the handler the request id (echoed in plugboard-request-id) and the stream's authenticated mark", async () => {
    let marked = 0;
    const real = createRequestGuard(limits);
    const guard: RequestGuard = {
      guard: real.guard,
      guardStream: (handler, singleMessage) =>
        real.guardStream((stream, headers, authenticated) => handler(stream, headers, () => (marked++, authenticated())), singleMessage),
    };
    const scoped = (router: ConnectRouter) =>
      router.service(KVService, {
        get(_req, context) {
          context.values.get(streamAuthenticatedKey)(); // what markProvenStreams does for a proven caller
          return { key: context.values.get(requestIdKey) ?? "none", found: true };
        },
      });
    const hostUnary = createHostUnary({ ...adapterOptions, guard, contextValues });
    const server = await listen(
      { request: connectNodeAdapter({ ...adapterOptions, routes: hostUnary.routes(scoped) }), claimStream: hostUnary.claim },
      {},
      limits,
      silentLogger(),
    );
    try {
      const session = http2.connect(server.url);
      const answer = await new Promise<{ id: unknown; body: Buffer }>((resolve, reject) => {
        const req = session.request({ ":method": "POST", ":path": "/kv.v1.KVService/Get", ...proto, "plugboard-request-id": "scope-1" });
        const chunks: Buffer[] = [];
        let id: unknown;
        req.on("response", (h) => (id = h["plugboard-request-id"]));
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => resolve({ id, body: Buffer.concat(chunks) }));
        req.on("error", reject);
        req.end(getBody("x"));
      });
      await new Promise((r) => setImmediate(r));
      session.close();
      expect(answer.id).toBe("scope-1");
      expect(fromBinary(GetResponseSchema, answer.body).key).toBe("scope-1");
      expect(marked).toBe(1);
    } finally {
      await server.close();
    }
  });
});
