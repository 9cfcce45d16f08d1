/**
 * Issue 20, case 5, the part a killed provider leaves hardest to clean up: it dies in the middle of
 * a message of a streamed answer. Whatever the caller's protocol (Connect, gRPC, gRPC-Web, gRPC-Web
 * text), the call kind, the response limit (default or disabled) and whether the router translates
 * (a gRPC-only provider behind the bridge), the caller must get the whole messages sent before it and
 * then exactly one clean Unavailable end at a message boundary: END_STREAM, never a reset.
 * Read with a raw HTTP/2 client, because a client library may paper over a reset.
 */
import http2 from "node:http2";
import { resolve } from "node:path";
import type { ChildProcess } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { killGroup, spawnGroup, waitForLine } from "../../helpers/processes.js";
import { SIGNING_KEY, startFront, stubRouterOptions } from "./harness.js";

const FIXTURE = resolve(import.meta.dirname, "../../fixtures/dying-provider/server.mjs");

type CallerProtocol = "connect" | "grpc" | "grpc-web" | "grpc-web-text";
const CONTENT_TYPE: Record<CallerProtocol, string> = {
  connect: "application/connect+proto",
  grpc: "application/grpc+proto",
  "grpc-web": "application/grpc-web+proto",
  "grpc-web-text": "application/grpc-web-text+proto",
};
/** The fixture's first (whole) message: field 1 = "k". */
const MESSAGE = Buffer.from([10, 1, 107]);

function envelope(flags: number, payload: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = flags;
  prefix.writeUInt32BE(payload.length, 1);
  return Buffer.concat([prefix, payload]);
}

/** Decodes a gRPC-Web text body: possibly several base64 runs, each padded. */
function fromText(body: Buffer): Buffer {
  const text = body.toString("latin1");
  const runs = text.match(/[^=]*=*/g)!.filter((r) => r.length > 0);
  return Buffer.concat(runs.map((r) => Buffer.from(r, "base64")));
}

/** Whole envelopes, or an error naming where the body stopped being whole. */
function envelopes(body: Buffer): { flags: number; payload: Buffer }[] {
  const out: { flags: number; payload: Buffer }[] = [];
  for (let i = 0; i < body.length; ) {
    if (body.length - i < 5) throw new Error(`body ends inside an envelope prefix at ${i}`);
    const len = body.readUInt32BE(i + 1);
    if (body.length - i - 5 < len) throw new Error(`body ends inside a ${len}-byte message at ${i}`);
    out.push({ flags: body[i]!, payload: body.subarray(i + 5, i + 5 + len) });
    i += 5 + len;
  }
  return out;
}

interface RawOutcome {
  status: number | undefined;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders | undefined;
  /** The stream ended with END_STREAM from the router (not a reset). */
  ended: boolean;
  rstCode: number | undefined;
}

/** One streamed call over a raw HTTP/2 client; `onHeaders` runs when the router's response headers arrive. */
function rawCall(url: string, protocol: CallerProtocol, method: "List" | "Exchange"): { outcome: Promise<RawOutcome>; close(): void } {
  const session = http2.connect(url);
  session.on("error", () => {});
  const ct = CONTENT_TYPE[protocol];
  const stream = session.request({
    ":method": "POST",
    ":path": `/kv.v1.KVService/${method}`,
    "content-type": ct,
    authorization: "Bearer pbrt_alice",
    "x-die-at": "half",
    ...(protocol === "grpc" ? { te: "trailers" } : {}),
    ...(protocol === "connect" ? { "connect-protocol-version": "1" } : {}),
  });
  const request = envelope(0, Buffer.from([10, 1, 97]));
  stream.end(protocol === "grpc-web-text" ? Buffer.from(request.toString("base64"), "latin1") : request);
  const outcome = new Promise<RawOutcome>((resolveOutcome) => {
    let status: number | undefined;
    let trailers: http2.IncomingHttpHeaders | undefined;
    let ended = false;
    const chunks: Buffer[] = [];
    stream.on("response", (h) => (status = h[":status"]));
    stream.on("trailers", (t) => (trailers = t));
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => (ended = true));
    stream.on("error", () => {});
    stream.on("close", () => resolveOutcome({ status, body: Buffer.concat(chunks), trailers, ended, rstCode: stream.rstCode }));
  });
  return {
    outcome,
    close: () => setImmediate(() => session.destroy()),
  };
}

/** What the caller must have received: the whole first message, then one Unavailable end in its protocol. */
function expectCleanUnavailable(protocol: CallerProtocol, got: RawOutcome): void {
  expect(got.rstCode, "the router reset the caller's stream instead of ending it").toBe(http2.constants.NGHTTP2_NO_ERROR);
  expect(got.ended).toBe(true);
  expect(got.status).toBe(200);
  const body = protocol === "grpc-web-text" ? fromText(got.body) : got.body;
  const frames = envelopes(body);
  expect(frames[0]?.flags).toBe(0);
  expect(frames[0]?.payload.equals(MESSAGE)).toBe(true);
  switch (protocol) {
    case "grpc":
      expect(frames).toHaveLength(1);
      expect(got.trailers?.["grpc-status"]).toBe("14");
      return;
    case "connect": {
      expect(frames).toHaveLength(2);
      expect(frames[1]!.flags).toBe(0x02);
      expect(JSON.parse(frames[1]!.payload.toString("utf8")).error.code).toBe("unavailable");
      return;
    }
    default:
      expect(frames).toHaveLength(2);
      expect(frames[1]!.flags).toBe(0x80);
      expect(frames[1]!.payload.toString("latin1")).toMatch(/grpc-status: ?14/);
  }
}

const PROTOCOLS: CallerProtocol[] = ["connect", "grpc", "grpc-web", "grpc-web-text"];
const CASES = PROTOCOLS.flatMap((protocol) =>
  (["List", "Exchange"] as const).flatMap((method) =>
    ([4 * 1024 * 1024, Infinity] as const).flatMap((limit) =>
      // A gRPC caller never crosses the bridge.
      (protocol === "grpc" ? [false] : [false, true]).map((bridged) => ({ protocol, method, limit, bridged })),
    ),
  ),
);

describe("a provider killed -9 in the middle of a streamed message", () => {
  let child: ChildProcess | undefined;
  afterEach(async () => {
    if (child) await killGroup(child);
    child = undefined;
  });

  it.each(CASES)("$protocol $method (response limit $limit, bridged: $bridged) → the whole messages, then one clean Unavailable", async ({ protocol, method, limit, bridged }) => {
    const proc = spawnGroup(process.execPath, [FIXTURE]);
    child = proc;
    const port = (await waitForLine(proc, (l) => l.startsWith("listening "))).split(" ")[1];
    const endpoint = `http://127.0.0.1:${port}`;
    const front = await startFront(
      stubRouterOptions(() => endpoint, {
        maxResponseMessageBytes: limit,
        // Bridged: the provider serves gRPC only, so the router translates.
        ...(bridged ? { resolve: async () => ({ runtimeId: "kv-1", registrationId: "reg-1", endpoint, signingKey: SIGNING_KEY, protocols: [1] }) } : {}),
      }),
    );
    const call = rawCall(front.url, protocol, method);
    try {
      await waitForLine(proc, (l) => l === "stage half");
      await killGroup(proc);
      expectCleanUnavailable(protocol, await call.outcome);
    } finally {
      call.close();
      await front.close();
    }
  });
});
