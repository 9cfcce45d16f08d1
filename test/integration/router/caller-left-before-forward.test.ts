/**
 * The time a call spends being decided counts against its caller's deadline; and a caller that resets its stream while the router is still deciding (here: while its provider is
 * looked up) has left: the router must not open a stream to the provider for it. The provider counts
 * the streams it is sent; a later call on the same connection shows every earlier stream has arrived.
 */
import http2, { type ServerHttp2Stream } from "node:http2";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createRouter, type RouteTarget } from "../../../src/router/index.js";
import { listen, stubRouterOptions } from "./harness.js";

describe("a caller gone before its call is forwarded", () => {
  let provider: http2.Http2Server;
  let providerUrl = "";
  const providerSessions = new Set<http2.ServerHttp2Session>();
  let providerStreams = 0;
  /** Set: the provider holds its streams open, unanswered. */
  let hold = false;
  beforeAll(async () => {
    provider = http2.createServer();
    provider.on("session", (s) => providerSessions.add(s));
    provider.on("stream", (s) => {
      providerStreams++;
      s.on("error", () => undefined);
      if (hold) return;
      (s as ServerHttp2Stream).respond({ ":status": 200, "content-type": "application/proto" });
      s.end("ok");
    });
    providerUrl = await listen(provider);
  });
  afterAll(async () => {
    for (const s of providerSessions) s.destroy();
    await new Promise<void>((resolve) => provider.close(() => resolve()));
  });

  it("never reaches the provider", async () => {
    let gate: Promise<void> | undefined;
    let entered = 0;
    const base = stubRouterOptions(() => providerUrl);
    const router = createRouter({
      ...base,
      async resolve(service, caller, pin): Promise<RouteTarget> {
        entered++;
        if (gate !== undefined) await gate;
        return base.resolve(service, caller, pin);
      },
    });
    const callerStreams: ServerHttp2Stream[] = [];
    const front = http2.createServer();
    front.on("stream", (s, h) => {
      callerStreams.push(s as ServerHttp2Stream);
      router.handleStream(s as ServerHttp2Stream, h);
    });
    const url = await listen(front);
    const session = http2.connect(url);
    session.on("error", () => undefined);
    const call = async (): Promise<number | undefined> => {
      const req = session.request({ ":method": "POST", ":path": "/kv.v1.KVService/Get", "content-type": "application/proto", authorization: "Bearer pbrt_alice" });
      req.on("error", () => undefined);
      let status: number | undefined;
      req.on("response", (h) => (status = h[":status"]));
      req.resume();
      req.end(Buffer.alloc(0));
      await new Promise((resolve) => req.once("close", resolve));
      return status;
    };
    try {
      // The router's session to the provider is up (the gated call must not wait for a connect).
      expect(await call()).toBe(200);
      expect(providerStreams).toBe(1);

      let release!: () => void;
      gate = new Promise<void>((r) => (release = r));
      const before = entered;
      const leaving = session.request({ ":method": "POST", ":path": "/kv.v1.KVService/Get", "content-type": "application/proto", authorization: "Bearer pbrt_alice" });
      leaving.on("error", () => undefined);
      await expect.poll(() => entered, { timeout: 5000 }).toBe(before + 1);
      leaving.close(http2.constants.NGHTTP2_CANCEL);
      // The router sees the caller's stream closed before the lookup comes back.
      const gone = callerStreams[callerStreams.length - 1]!;
      await expect.poll(() => gone.closed || gone.destroyed, { timeout: 5000 }).toBe(true);
      gate = undefined;
      release();

      // Streams on one connection arrive in order: once this call is answered, a stream opened for the gone caller would have arrived too.
      expect(await call()).toBe(200);
      expect(providerStreams).toBe(2);
    } finally {
      await new Promise<void>((resolve) => setImmediate(resolve));
      session.destroy();
      for (const s of providerSessions) s.destroy();
      await router.close();
      await new Promise<void>((resolve) => front.close(() => resolve()));
    }
  });

  it("the time spent deciding is taken off the caller's deadline (a deadline spent while deciding ends the call at once)", async () => {
    const realNow = performance.now.bind(performance);
    let skew = 0;
    const now = vi.spyOn(performance, "now").mockImplementation(() => realNow() + skew);
    const base = stubRouterOptions(() => providerUrl);
    const router = createRouter({
      ...base,
      async resolve(service, caller, pin): Promise<RouteTarget> {
        // The lookup "took" 61 s of the caller's 60 s.
        skew = 61_000;
        return base.resolve(service, caller, pin);
      },
    });
    const front = http2.createServer();
    front.on("stream", (s, h) => router.handleStream(s as ServerHttp2Stream, h));
    const url = await listen(front);
    const session = http2.connect(url);
    session.on("error", () => undefined);
    hold = true;
    try {
      const streamsBefore = providerStreams;
      const req = session.request({
        ":method": "POST",
        ":path": "/kv.v1.KVService/Get",
        "content-type": "application/grpc",
        "grpc-timeout": "60S",
        authorization: "Bearer pbrt_alice",
      });
      req.on("error", () => undefined);
      let status: string | undefined;
      req.on("response", (h) => (status ??= h["grpc-status"] as string | undefined));
      req.on("trailers", (t) => (status ??= t["grpc-status"] as string | undefined));
      req.resume();
      req.end(Buffer.from([0, 0, 0, 0, 0]));
      // Forwarded (the provider holds it), then ended by the router's deadline: not 60 s (or 121 s) later.
      await expect.poll(() => providerStreams, { timeout: 5000 }).toBe(streamsBefore + 1);
      await expect.poll(() => req.closed, { timeout: 10_000 }).toBe(true);
      expect(status).toBe("4");
    } finally {
      hold = false;
      now.mockRestore();
      await new Promise<void>((resolve) => setImmediate(resolve));
      session.destroy();
      await router.close();
      await new Promise<void>((resolve) => front.close(() => resolve()));
    }
  });
});
