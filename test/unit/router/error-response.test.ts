import { type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { endStreamWithError, writeErrorResponse } from "../../../src/router/error-response.js";
import { rateLimitedError } from "../../../src/router/retry-info.js";
import type { WireProtocol } from "../../../src/router/wire-protocol.js";
import { useLoopbackH2, type StreamHandler } from "../../helpers/loopback-h2.js";

/*
 * The router's own errors, written on a real HTTP/2 stream of a loopback server and read back raw by
 * a client: status, headers, body bytes and trailers in each protocol.
 */

const loopback = useLoopbackH2();

interface Answer {
  headers: IncomingHttpHeaders;
  body: Buffer;
  trailers: IncomingHttpHeaders | undefined;
}

async function call(h: StreamHandler): Promise<Answer> {
  loopback.handler = h;
  const req = loopback.session.request({ ":method": "POST", ":path": "/a.B/C" }, { endStream: true });
  const chunks: Buffer[] = [];
  let trailers: IncomingHttpHeaders | undefined;
  const headers = await new Promise<IncomingHttpHeaders>((resolve) => req.once("response", resolve));
  req.on("trailers", (t) => (trailers = t));
  req.on("data", (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve, reject) => {
    req.once("close", resolve);
    req.once("error", reject);
  });
  return { headers, body: Buffer.concat(chunks), trailers };
}

function envelopes(body: Buffer): { flags: number; payload: Buffer }[] {
  const out: { flags: number; payload: Buffer }[] = [];
  for (let i = 0; i < body.length; ) {
    const n = body.readUInt32BE(i + 1);
    out.push({ flags: body[i]!, payload: body.subarray(i + 5, i + 5 + n) });
    i += 5 + n;
  }
  return out;
}

const err = () => new ConnectError("no: 100% refused", Code.PermissionDenied, { "x-why": "policy" });

describe("writeErrorResponse", () => {
  it("Connect unary: HTTP status from the code, JSON error body, metadata as headers", async () => {
    const a = await call((s) => writeErrorResponse(s, "connect-unary", "application/proto", err()));
    expect(a.headers[":status"]).toBe(403);
    expect(a.headers["content-type"]).toBe("application/json");
    expect(a.headers["x-why"]).toBe("policy");
    expect(JSON.parse(a.body.toString())).toEqual({ code: "permission_denied", message: "no: 100% refused" });
  });

  it("Connect streaming: 200, the request's content type (or Connect proto), one end-stream envelope with the error", async () => {
    const a = await call((s) => writeErrorResponse(s, "connect-stream", "application/connect+json", err()));
    expect(a.headers[":status"]).toBe(200);
    expect(a.headers["content-type"]).toBe("application/connect+json");
    const [end, ...rest] = envelopes(a.body);
    expect(rest).toEqual([]);
    expect(end!.flags).toBe(0x02);
    // The error's metadata once (it was once written twice, "policy, policy": a retry-after of "2, 2" reads as no number).
    expect(JSON.parse(end!.payload.toString())).toEqual({ error: { code: "permission_denied", message: "no: 100% refused" }, metadata: { "x-why": ["policy"] } });
    const b = await call((s) => writeErrorResponse(s, "connect-stream", undefined, err()));
    expect(b.headers["content-type"]).toBe("application/connect+proto");
  });

  it("gRPC: trailers-only (one HEADERS frame with the status, no body), grpc-message encoded as the gRPC spec asks", async () => {
    const a = await call((s) => writeErrorResponse(s, "grpc", "application/grpc+json", err()));
    expect(a.headers[":status"]).toBe(200);
    expect(a.headers["content-type"]).toBe("application/grpc+json");
    expect(a.headers["grpc-status"]).toBe(String(Code.PermissionDenied));
    expect(a.headers["grpc-message"]).toBe("no: 100%25 refused");
    expect(a.body.length).toBe(0);
    expect(a.trailers).toBeUndefined();
    const b = await call((s) => writeErrorResponse(s, "grpc", undefined, err()));
    expect(b.headers["content-type"]).toBe("application/grpc+proto");
  });

  it("gRPC carries error details in grpc-status-details-bin", async () => {
    const a = await call((s) => writeErrorResponse(s, "grpc", undefined, rateLimitedError(1500)));
    expect(a.headers["grpc-status"]).toBe(String(Code.ResourceExhausted));
    expect(typeof a.headers["grpc-status-details-bin"]).toBe("string");
    expect(a.headers["retry-after"]).toBe("2");
  });

  it.each([
    ["grpc-web", "application/grpc-web+proto"],
    ["grpc-web-text", "application/grpc-web-text+proto"],
  ] as const)("%s: 200, a trailer frame with the status (base64 for text), default type %s", async (protocol, defaultType) => {
    const a = await call((s) => writeErrorResponse(s, protocol, undefined, err()));
    expect(a.headers[":status"]).toBe(200);
    expect(a.headers["content-type"]).toBe(defaultType);
    const body = protocol === "grpc-web-text" ? Buffer.from(a.body.toString("latin1"), "base64") : a.body;
    if (protocol === "grpc-web-text") expect(a.body.toString("latin1")).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const [frame, ...rest] = envelopes(body);
    expect(rest).toEqual([]);
    expect(frame!.flags).toBe(0x80);
    const text = frame!.payload.toString();
    expect(text).toContain(`grpc-status: ${Code.PermissionDenied}\r\n`);
    expect(text).toContain("grpc-message: no: 100%25 refused\r\n");
    const typed = await call((s) => writeErrorResponse(s, protocol, "application/grpc-web+json", err()));
    expect(typed.headers["content-type"]).toBe("application/grpc-web+json");
  });

  it("does nothing once response headers were sent, or on a destroyed stream", async () => {
    const a = await call((s) => {
      s.respond({ ":status": 200, "content-type": "application/grpc" });
      expect(() => writeErrorResponse(s, "grpc", undefined, err())).not.toThrow();
      s.end("ok");
    });
    expect(a.headers["grpc-status"]).toBeUndefined();
    expect(a.body.toString()).toBe("ok");
    let threw: unknown = "not called";
    loopback.handler = (s) => {
      s.destroy();
      try {
        writeErrorResponse(s, "connect-unary", undefined, err());
        threw = undefined;
      } catch (e) {
        threw = e;
      }
    };
    const req = loopback.session.request({ ":method": "POST", ":path": "/a.B/C" }, { endStream: true });
    req.on("error", () => undefined);
    await new Promise<void>((resolve) => req.once("close", resolve));
    expect(threw).toBeUndefined();
  });
});

describe("endStreamWithError (headers already sent)", () => {
  const started = (s: ServerHttp2Stream, protocol: WireProtocol): OutgoingHttpHeaders | undefined => {
    s.respond({ ":status": 200, "content-type": "application/x" }, { waitForTrailers: protocol === "grpc" });
    s.write(Buffer.from([0, 0, 0, 0, 1, 7]));
    const trailers = endStreamWithError(s, protocol, err());
    if (trailers !== undefined) s.once("wantTrailers", () => s.sendTrailers(trailers));
    return trailers;
  };

  it("Connect streaming: an end-stream envelope after the messages", async () => {
    let trailers: OutgoingHttpHeaders | undefined = {};
    const a = await call((s) => (trailers = started(s, "connect-stream")));
    expect(trailers).toBeUndefined();
    const [msg, end] = envelopes(a.body);
    expect(msg).toEqual({ flags: 0, payload: Buffer.from([7]) });
    expect(end!.flags).toBe(0x02);
    expect(JSON.parse(end!.payload.toString()).error).toEqual({ code: "permission_denied", message: "no: 100% refused" });
  });

  it("gRPC-Web: a trailer frame; gRPC-Web text: base64 of it", async () => {
    const web = await call((s) => started(s, "grpc-web"));
    const [, frame] = envelopes(web.body);
    expect(frame!.flags).toBe(0x80);
    expect(frame!.payload.toString()).toContain(`grpc-status: ${Code.PermissionDenied}`);
    const text = await call((s) => started(s, "grpc-web-text"));
    const raw = text.body.subarray(6).toString("latin1");
    expect(raw).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const [frame2] = envelopes(Buffer.from(raw, "base64"));
    expect(frame2!.flags).toBe(0x80);
  });

  it("gRPC: the status comes back as HTTP trailers for the caller to send", async () => {
    let trailers: OutgoingHttpHeaders | undefined;
    const a = await call((s) => (trailers = started(s, "grpc")));
    expect(trailers).toMatchObject({ "grpc-status": String(Code.PermissionDenied), "grpc-message": "no: 100%25 refused" });
    expect(a.trailers?.["grpc-status"]).toBe(String(Code.PermissionDenied));
    expect(a.body).toEqual(Buffer.from([0, 0, 0, 0, 1, 7]));
  });

  it("Connect unary: nothing is written (the caller resets the stream instead)", async () => {
    let written = true;
    const a = await call((s) => {
      s.respond({ ":status": 200 });
      s.write("part");
      expect(endStreamWithError(s, "connect-unary", err())).toBeUndefined();
      written = s.writableEnded;
      s.end();
    });
    expect(written).toBe(false);
    expect(a.body.toString()).toBe("part");
  });
});
