import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { Health as HealthService } from "../../../gen/grpc/health/v1/health_pb.js";
import { createRouterRateLimiter } from "../../../src/ratelimit/index.js";
import { retryDelayMs, RetryInfoSchema } from "../../../src/router/index.js";
import { PROTOCOLS, clientFactory, expectConnectError, startFront, startProvider, stubRouterOptions } from "./harness.js";

describe("router refusals arrive as ConnectErrors in the caller's protocol", () => {
  let provider: Awaited<ReturnType<typeof startProvider>>;
  let front: Awaited<ReturnType<typeof startFront>>;
  let limited: Awaited<ReturnType<typeof startFront>>;
  const clients = clientFactory();

  beforeAll(async () => {
    provider = await startProvider();
    front = await startFront(stubRouterOptions(() => provider.url, { maxMessageBytes: 1024 }));
    limited = await startFront(
      stubRouterOptions(() => provider.url, {
        rateLimiter: createRouterRateLimiter({ perCaller: { points: 2, durationSec: 1 } }),
      }),
    );
  });
  afterAll(async () => {
    clients.close();
    await front.close();
    await limited.close();
    await provider.close();
  });

  describe.each(PROTOCOLS)("%s", (protocol) => {
    it("no or unknown token → Unauthenticated (unary and streaming)", async () => {
      const anon = clients.client(protocol, front.url, null);
      expect((await expectConnectError(anon.get({ key: "a" }))).code).toBe(Code.Unauthenticated);
      const bad = clients.client(protocol, front.url, "pbrt_nobody");
      const err = await expectConnectError((async () => { for await (const _ of bad.list({ prefix: "p" })); })());
      expect(err.code).toBe(Code.Unauthenticated);
      expect(err.rawMessage).toBe("missing or invalid credentials");
    });

    it("identified but not allowed → PermissionDenied", async () => {
      const kv = clients.client(protocol, front.url, "pbrt_mallory");
      expect((await expectConnectError(kv.put({ key: "a" }))).code).toBe(Code.PermissionDenied);
    });

    it("unknown service → NotFound from resolve", async () => {
      const sessionManager = new Http2SessionManager(front.url);
      const opts = {
        baseUrl: front.url,
        httpVersion: "2" as const,
        sessionManager,
        interceptors: [(next: any) => (req: any) => { req.header.set("authorization", "Bearer pbrt_alice"); return next(req); }],
      };
      const transport =
        protocol === "connect" ? createConnectTransport(opts) : protocol === "grpc" ? createGrpcTransport(opts) : createGrpcWebTransport(opts);
      try {
        const health = createClient(HealthService, transport);
        expect((await expectConnectError(health.check({}))).code).toBe(Code.NotFound);
      } finally {
        sessionManager.abort();
      }
    });

    it("request message over maxMessageBytes → ResourceExhausted (unary and client stream)", async () => {
      const kv = clients.client(protocol, front.url);
      const big = new Uint8Array(4096);
      expect((await expectConnectError(kv.put({ key: "big", value: big }))).code).toBe(Code.ResourceExhausted);
      async function* many() {
        yield { key: "small", value: new Uint8Array(10) };
        yield { key: "big", value: big };
      }
      expect((await expectConnectError(kv.putMany(many()))).code).toBe(Code.ResourceExhausted);
      // Smaller messages still pass.
      expect((await kv.putMany((async function* () { yield { key: "ok", value: new Uint8Array(100) }; })())).count).toBe(1);
    });

    it("rate limited → ResourceExhausted with RetryInfo and retry-after, then recovers", async () => {
      const kv = clients.client(protocol, limited.url);
      // Each protocol gets a fresh window.
      await new Promise((r) => setTimeout(r, 1100));
      await kv.get({ key: "a" });
      await kv.get({ key: "a" });
      const err = await expectConnectError(kv.get({ key: "a" }));
      expect(err.code).toBe(Code.ResourceExhausted);
      const delay = retryDelayMs(err);
      expect(delay).toBeGreaterThan(0);
      expect(delay).toBeLessThanOrEqual(1000);
      expect(err.findDetails(RetryInfoSchema)).toHaveLength(1);
      expect(err.metadata.get("retry-after")).toBe("1");
      await new Promise((r) => setTimeout(r, (delay ?? 1000) + 50));
      expect((await kv.get({ key: "a" })).key).toBe("a");
    });
  });
});

describe("router robustness against failing collaborators", () => {
  it("limiter store failure → Unavailable; a throwing resolve → Internal without leaking; a throwing hook is contained", async () => {
    const provider = await startProvider();
    const front = await startFront(
      stubRouterOptions(() => provider.url, {
        rateLimiter: { consume: async () => Promise.reject(new Error("redis down at 10.0.0.1")) },
        onCallEnd: () => {
          throw new Error("hook bug");
        },
      }),
    );
    const front2 = await startFront(
      stubRouterOptions(() => provider.url, {
        resolve: async () => {
          throw new Error("db password=hunter2 rejected");
        },
      }),
    );
    const clients = clientFactory();
    try {
      const err = await expectConnectError(clients.client("grpc", front.url).get({ key: "a" }));
      expect(err.code).toBe(Code.Unavailable);
      expect(err.message).not.toContain("10.0.0.1");
      const err2 = await expectConnectError(clients.client("connect", front2.url).get({ key: "a" }));
      expect(err2.code).toBe(Code.Internal);
      expect(err2.message).not.toContain("hunter2");
    } finally {
      clients.close();
      await front.close();
      await front2.close();
      await provider.close();
    }
  });
});
