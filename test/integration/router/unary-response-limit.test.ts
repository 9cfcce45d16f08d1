/**
 * The response limit for Connect unary answers (maxResponseMessageBytes): an answer announcing a
 * body over the limit (content-length) is refused before its body arrives, whatever it then sends;
 * one announcing exactly the limit passes whole.
 */
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listen, startFront, stubRouterOptions } from "./harness.js";

describe("Connect unary answers and the response limit", () => {
  let handler: (s: ServerHttp2Stream) => void = () => undefined;
  let provider: http2.Http2Server;
  let providerUrl = "";
  const providerSessions = new Set<http2.ServerHttp2Session>();
  let front: Awaited<ReturnType<typeof startFront>>;
  let session: http2.ClientHttp2Session;

  beforeAll(async () => {
    provider = http2.createServer();
    provider.on("session", (s) => providerSessions.add(s));
    provider.on("stream", (s) => {
      s.on("error", () => undefined);
      handler(s as ServerHttp2Stream);
    });
    providerUrl = await listen(provider);
    front = await startFront(stubRouterOptions(() => providerUrl, { maxResponseMessageBytes: 100 }));
    session = http2.connect(front.url);
    session.on("error", () => undefined);
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => setImmediate(resolve));
    session.close();
    await front.close();
    for (const s of providerSessions) s.destroy();
    await new Promise<void>((resolve) => provider.close(() => resolve()));
  });

  async function call(): Promise<{ headers: IncomingHttpHeaders; body: Buffer }> {
    const req = session.request({ ":method": "POST", ":path": "/kv.v1.KVService/Get", "content-type": "application/proto", authorization: "Bearer pbrt_alice" });
    req.on("error", () => undefined);
    let headers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on("response", (h) => (headers = h));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.end(Buffer.alloc(0));
    await new Promise((resolve) => req.once("close", resolve));
    return { headers, body: Buffer.concat(chunks) };
  }

  it("announced over the limit: ResourceExhausted at once, though the body sent is small", async () => {
    handler = (s) => {
      s.respond({ ":status": 200, "content-type": "application/proto", "content-length": "101" });
      // Only a little arrives before the stream is canceled (the provider then ends what it can).
      s.write(Buffer.alloc(10, 1), () => setTimeout(() => !s.closed && s.end(), 50));
    };
    const a = await call();
    expect(a.headers[":status"]).toBe(429);
    expect(JSON.parse(a.body.toString())).toMatchObject({ code: "resource_exhausted", message: "response message larger than 100 bytes" });
  });

  it("announced at the limit: the whole answer passes", async () => {
    handler = (s) => {
      s.respond({ ":status": 200, "content-type": "application/proto", "content-length": "100" });
      s.end(Buffer.alloc(100, 2));
    };
    const a = await call();
    expect(a.headers[":status"]).toBe(200);
    expect(a.body).toEqual(Buffer.alloc(100, 2));
  });

  it("a gRPC request message over maxMessageBytes: ResourceExhausted naming the limit", async () => {
    handler = (s) => {
      s.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      s.on("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
      s.resume();
      s.on("end", () => s.end());
    };
    const small = await startFront(stubRouterOptions(() => providerUrl, { maxMessageBytes: 10 }));
    const client = http2.connect(small.url);
    client.on("error", () => undefined);
    try {
      const req = client.request({ ":method": "POST", ":path": "/kv.v1.KVService/Get", "content-type": "application/grpc", authorization: "Bearer pbrt_alice" });
      req.on("error", () => undefined);
      let status: IncomingHttpHeaders = {};
      req.on("response", (h) => (status = h["grpc-status"] !== undefined ? h : status));
      req.on("trailers", (t) => (status = t));
      req.resume();
      const message = Buffer.alloc(5 + 20);
      message.writeUInt32BE(20, 1);
      req.end(message);
      await new Promise((resolve) => req.once("close", resolve));
      expect(status["grpc-status"]).toBe("8");
      expect(decodeURIComponent(String(status["grpc-message"]))).toBe("request message larger than 10 bytes");
    } finally {
      await new Promise<void>((resolve) => setImmediate(resolve));
      client.close();
      await small.close();
    }
  });
});
