import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createRequestGuard } from "../../../src/server-limits/index.js";

/**
 * guardStream's `inScope`: a raw-stream handler whose identity is proven through the guard's async
 * scope (markAuthenticated, as the identity interceptor reaches it) frees the stream's
 * unauthenticated slot, as on the compat path; without the scope the slot stays taken.
 */
const limits = { maxHeaderListBytes: 16_384, requestBodyTimeoutMs: 60_000, unauthenticatedStreamsPerPeer: 1, unauthenticatedStreams: 100 };
const servers: http2.Http2Server[] = [];
const sessions: http2.ClientHttp2Session[] = [];

afterEach(async () => {
  await new Promise((r) => setImmediate(r));
  for (const s of sessions.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function serve(inScope: boolean): Promise<string> {
  const guard = createRequestGuard(limits);
  const listener = guard.guardStream(
    (stream, headers) => {
      // Proven in an async continuation, as an interceptor proves it (it runs before the 200 goes out).
      if (headers["x-proven"] !== undefined) void Promise.resolve().then(() => guard.markAuthenticated());
      stream.respond({ ":status": 200 });
    },
    () => false,
    { inScope },
  );
  const server = http2.createServer();
  server.on("stream", (stream, headers, flags, rawHeaders) => listener(stream as http2.ServerHttp2Stream, headers, flags, rawHeaders as unknown as string[]));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Opens a stream whose request never ends; resolves with the status it is answered with. */
function open(session: http2.ClientHttp2Session, headers: Record<string, string> = {}): Promise<number> {
  const req = session.request({ ":method": "POST", ":path": "/a.B/C", ...headers }, { endStream: false });
  req.on("error", () => undefined);
  req.write("partial");
  return new Promise((resolve) => req.once("response", (h) => resolve(Number(h[":status"]))));
}

describe("guardStream inScope", () => {
  it("in scope, a stream proven meanwhile frees its unauthenticated slot for the peer's next stream", async () => {
    const session = http2.connect(await serve(true));
    sessions.push(session);
    expect(await open(session, { "x-proven": "1" })).toBe(200);
    expect(await open(session)).toBe(200);
    expect(await open(session)).toBe(429);
  });

  it("out of scope, the proof does not reach the stream: the peer's next stream is refused", async () => {
    const session = http2.connect(await serve(false));
    sessions.push(session);
    expect(await open(session, { "x-proven": "1" })).toBe(200);
    expect(await open(session)).toBe(429);
  });
});
