import * as http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_LIMITS } from "../../src/protocol/constants.js";
import { startAttackHost, type AttackHost } from "./harness.js";

/**
 * Hole 12: a request found oversize while it streams in (no content-length) is answered, and its
 * stream must then close: the client gets the error and is not left waiting on a paused upload.
 */
let h: AttackHost;
beforeAll(async () => {
  h = await startAttackHost();
});
afterAll(async () => h?.close());

const CHUNK = Buffer.alloc(64 * 1024, 1);
const TOTAL = DEFAULT_LIMITS.maxMessageBytes * 2;
/** Generous upper bound for the stream to close; the outcome is asserted, never the time taken. */
const CLOSE_BOUND_MS = 20_000;

interface Outcome {
  closed: boolean;
  status?: number;
  grpcStatus?: string;
  body: string;
}

/** Uploads `first` then more chunks up to TOTAL (no content-length unless given), honouring flow control. */
async function upload(contentType: string, first: Buffer, extraHeaders: Record<string, string> = {}): Promise<Outcome> {
  const session = http2.connect(h.url);
  session.on("error", () => undefined);
  const stream = session.request({
    ":method": "POST",
    ":path": "/kv.v1.KVService/Put",
    "content-type": contentType,
    authorization: `Bearer ${h.consumer.token}`,
    ...extraHeaders,
  });
  const outcome: Outcome = { closed: false, body: "" };
  const body: Buffer[] = [];
  stream.on("response", (headers) => {
    outcome.status = Number(headers[":status"]);
    if (headers["grpc-status"] !== undefined) outcome.grpcStatus = String(headers["grpc-status"]);
  });
  stream.on("trailers", (trailers) => {
    if (trailers["grpc-status"] !== undefined) outcome.grpcStatus = String(trailers["grpc-status"]);
  });
  stream.on("data", (c: Buffer) => body.push(c));
  stream.on("error", () => undefined);
  const closed = new Promise<void>((resolve) => stream.on("close", () => resolve()));
  const gone = () => stream.closed || stream.destroyed;
  void (async () => {
    let sent = 0;
    for (let chunk = first; sent < TOTAL && !gone(); chunk = CHUNK) {
      sent += chunk.length;
      if (!stream.write(chunk)) await Promise.race([new Promise((r) => stream.once("drain", r)), closed]);
    }
    if (!gone()) stream.end();
  })();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([closed.then(() => (outcome.closed = true)), new Promise((r) => (timer = setTimeout(r, CLOSE_BOUND_MS)))]);
  clearTimeout(timer);
  outcome.body = Buffer.concat(body).toString("latin1");
  stream.destroy();
  session.destroy();
  return outcome;
}

/** Envelope prefix announcing a message over the limit. */
function oversizePrefix(flags = 0): Buffer {
  const p = Buffer.alloc(5);
  p.writeUInt8(flags, 0);
  p.writeUInt32BE(DEFAULT_LIMITS.maxMessageBytes + 1024, 1);
  return p;
}

describe("an oversize request without content-length is answered and its stream closes", () => {
  it("Connect unary: HTTP 429 resource_exhausted", async () => {
    const o = await upload("application/proto", CHUNK);
    expect(o.status).toBe(429);
    expect(o.body).toContain("resource_exhausted");
    expect(o.closed).toBe(true);
  });

  it("Connect streaming: end-stream message with resource_exhausted", async () => {
    const o = await upload("application/connect+proto", oversizePrefix());
    expect(o.status).toBe(200);
    expect(o.body).toContain("resource_exhausted");
    expect(o.closed).toBe(true);
  });

  it("gRPC: grpc-status 8", async () => {
    const o = await upload("application/grpc+proto", oversizePrefix());
    expect(o.grpcStatus).toBe("8");
    expect(o.closed).toBe(true);
  });

  it("gRPC-Web: trailer frame with grpc-status 8", async () => {
    const o = await upload("application/grpc-web+proto", oversizePrefix());
    expect(o.status).toBe(200);
    expect(o.body).toMatch(/grpc-status:\s*8/);
    expect(o.closed).toBe(true);
  });

  it("Connect unary with a declared oversize content-length: refused up front, the upload still ends", async () => {
    const o = await upload("application/proto", CHUNK, { "content-length": String(TOTAL) });
    expect(o.status).toBe(429);
    expect(o.body).toContain("resource_exhausted");
    expect(o.closed).toBe(true);
  });

  it("the host keeps serving afterwards", async () => {
    expect((await h.kv().get({ key: "k" }, { headers: { authorization: `Bearer ${h.consumer.token}` } })).found).toBe(true);
  });
});
