/**
 * What the caller gets, what the call's end says and how the provider is judged (outlier ejection)
 * when a provider answers in ways connect-node never does: scripted on a raw HTTP/2 provider, read
 * raw by the caller. A Connect unary answer cut short is a clean Unavailable (never half a body); one
 * whose announced body all arrived before the reset stands; error codes come from the unary error body,
 * gRPC trailers-only headers or the HTTP status; a provider saying ENHANCE_YOUR_CALM is not an outlier.
 */
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OutlierDetector } from "../../../src/router/outlier-ejection.js";
import type { CallEndInfo } from "../../../src/router/index.js";
import { listen, startFront, stubRouterOptions } from "./harness.js";

type Handler = (stream: ServerHttp2Stream) => void;

interface RawAnswer {
  headers: IncomingHttpHeaders;
  body: Buffer;
  trailers: IncomingHttpHeaders | undefined;
  rstCode: number | undefined;
}

describe("raw provider answers", () => {
  let handler: Handler = () => undefined;
  let provider: http2.Http2Server;
  let providerUrl = "";
  const judged: string[] = [];
  const ends: CallEndInfo[] = [];
  let front: Awaited<ReturnType<typeof startFront>>;
  let session: http2.ClientHttp2Session;
  const providerSessions = new Set<http2.ServerHttp2Session>();

  beforeAll(async () => {
    provider = http2.createServer();
    provider.on("session", (s) => providerSessions.add(s));
    provider.on("stream", (s) => {
      s.on("error", () => undefined);
      handler(s as ServerHttp2Stream);
    });
    providerUrl = await listen(provider);
    const outliers: OutlierDetector = {
      failure: (id, hard) => judged.push(`failure:${id}:${hard}`),
      success: (id) => judged.push(`success:${id}`),
      filter: (c) => c,
      ejectedCount: () => 0,
      ejectionsTotal: () => 0,
    };
    front = await startFront(stubRouterOptions(() => providerUrl, { outliers, onCallEnd: (i) => ends.push(i) }));
    session = http2.connect(front.url);
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => setImmediate(resolve));
    session.close();
    await front.close();
    for (const s of providerSessions) s.destroy();
    await new Promise<void>((resolve) => provider.close(() => resolve()));
  });

  async function callRaw(contentType: string, extra: http2.OutgoingHttpHeaders = {}): Promise<RawAnswer> {
    judged.length = 0;
    ends.length = 0;
    const req = session.request({
      ":method": "POST",
      ":path": "/kv.v1.KVService/Get",
      "content-type": contentType,
      authorization: "Bearer pbrt_alice",
      ...extra,
    });
    req.on("error", () => undefined);
    const chunks: Buffer[] = [];
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | undefined;
    req.on("response", (h) => (headers = h));
    req.on("trailers", (t) => (trailers = t));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.end(contentType.includes("grpc") ? Buffer.from([0, 0, 0, 0, 0]) : Buffer.alloc(0));
    await new Promise((resolve) => req.once("close", resolve));
    // The call's end is reported as its streams close: wait for it.
    await expect.poll(() => ends.length, { timeout: 5000 }).toBe(1);
    return { headers, body: Buffer.concat(chunks), trailers, rstCode: req.rstCode };
  }

  it("Connect unary cut short (reset after half its announced body): a clean Unavailable, no partial body; a hard failure", async () => {
    handler = (s) => {
      s.respond({ ":status": 200, "content-type": "application/proto", "content-length": "10" });
      s.write(Buffer.from("12345"), () => setTimeout(() => s.close(http2.constants.NGHTTP2_INTERNAL_ERROR), 20));
    };
    const a = await callRaw("application/proto");
    expect(a.headers[":status"]).toBe(503);
    expect(JSON.parse(a.body.toString())).toMatchObject({ code: "unavailable" });
    expect(ends[0]!.code).toBe("unavailable");
    expect(judged).toEqual(["failure:kv-1:true"]);
  });

  it("Connect unary whose whole announced body came before the reset: the answer stands", async () => {
    handler = (s) => {
      s.respond({ ":status": 200, "content-type": "application/proto", "content-length": "10" });
      s.write(Buffer.from("0123456789"), () => setTimeout(() => s.close(http2.constants.NGHTTP2_INTERNAL_ERROR), 20));
    };
    const a = await callRaw("application/proto");
    expect(a.headers[":status"]).toBe(200);
    expect(a.body.toString()).toBe("0123456789");
    expect(ends[0]!.code).toBe("ok");
    expect(judged).toEqual(["success:kv-1"]);
  });

  it("Connect unary in several DATA frames: held until whole, then passed on in order", async () => {
    handler = (s) => {
      s.respond({ ":status": 200, "content-type": "application/proto" });
      s.write("ab");
      setTimeout(() => {
        s.write("cd");
        setTimeout(() => s.end("ef"), 10);
      }, 10);
    };
    const a = await callRaw("application/proto");
    expect(a.body.toString()).toBe("abcdef");
    expect(ends[0]!.code).toBe("ok");
  });

  it("a Connect unary error: the code of its JSON body (an unavailable one is a soft failure)", async () => {
    handler = (s) => {
      s.respond({ ":status": 404, "content-type": "application/json" });
      s.end(JSON.stringify({ code: "not_found", message: "gone" }));
    };
    const a = await callRaw("application/proto");
    expect(a.headers[":status"]).toBe(404);
    expect(JSON.parse(a.body.toString())).toEqual({ code: "not_found", message: "gone" });
    expect(ends[0]!.code).toBe("not_found");
    expect(judged).toEqual(["success:kv-1"]);
    handler = (s) => {
      s.respond({ ":status": 503, "content-type": "application/json" });
      s.end(JSON.stringify({ code: "unavailable" }));
    };
    await callRaw("application/proto");
    expect(ends[0]!.code).toBe("unavailable");
    expect(judged).toEqual(["failure:kv-1:false"]);
    handler = (s) => {
      s.respond({ ":status": 403, "content-type": "text/plain" });
      s.end("no json");
    };
    await callRaw("application/proto");
    expect(ends[0]!.code).toBe("permission_denied");
  });

  it("gRPC trailers-only: the code of its grpc-status, else of its HTTP status", async () => {
    handler = (s) => s.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "7", "grpc-message": "no" }, { endStream: true });
    const a = await callRaw("application/grpc");
    expect(a.headers["grpc-status"]).toBe("7");
    expect(ends[0]!.code).toBe("permission_denied");
    handler = (s) => s.respond({ ":status": 404 }, { endStream: true });
    const b = await callRaw("application/grpc");
    expect(b.headers[":status"]).toBe(404);
    expect(ends[0]!.code).toBe("unimplemented");
    handler = (s) => s.respond({ ":status": 200, "content-type": "application/grpc" }, { endStream: true });
    await callRaw("application/grpc");
    expect(ends[0]!.code).toBe("ok");
  });

  it("gRPC: the code of the provider's trailers", async () => {
    handler = (s) => {
      s.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      s.on("wantTrailers", () => s.sendTrailers({ "grpc-status": "5", "grpc-message": "gone" }));
      s.end(Buffer.from([0, 0, 0, 0, 0]));
    };
    const a = await callRaw("application/grpc");
    expect(a.trailers?.["grpc-status"]).toBe("5");
    expect(ends[0]!.code).toBe("not_found");
  });

  it("a provider resetting with ENHANCE_YOUR_CALM: ResourceExhausted for the caller, and no outlier failure", async () => {
    handler = (s) => s.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    const a = await callRaw("application/grpc");
    expect(a.headers["grpc-status"]).toBe("8");
    expect(ends[0]!.code).toBe("resource_exhausted");
    expect(judged).toEqual([]);
    handler = (s) => s.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    const b = await callRaw("application/grpc");
    expect(b.headers["grpc-status"]).toBe("14");
    expect(judged).toEqual(["failure:kv-1:true"]);
  });
});
