/**
 * The shared rate limiter over a real redis-server: two limiters (two hosts) share one
 * budget; when Redis dies each falls back to its own memory, says so once and counts
 * every fallback decision; when Redis is back it says so and shares again.
 */
import http2 from "node:http2";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { Redis } from "ioredis";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { startTestHost } from "../../helpers/host.js";
import { bearer } from "../../helpers/transports.js";
import { connectTransport, startPlainKvProvider } from "./harness.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRouterRateLimiter, type FallbackEvent } from "../../../src/ratelimit/index.js";
import { logRateLimitFallback } from "../../../src/host/rate-limit-fallback-log.js";
import { createLogger } from "../../../src/log/logger.js";
import { findRedisServer, startRedis, type RedisServerHandle } from "../../helpers/redis.js";
import { eventually } from "../sdk/harness.js";

const haveRedis = findRedisServer() !== undefined;

describe.skipIf(!haveRedis)("router rate limiter over Redis", () => {
  let redis: RedisServerHandle;
  const clients: Redis[] = [];
  const client = () => {
    // As createPluginHostWithRedis makes it: no offline queue, so an outage falls back at once.
    const c = new Redis(redis.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false });
    c.on("error", () => {});
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await redis?.stop();
  });

  it("shares one budget between hosts, falls back to memory during an outage (logged once, counted), and recovers", async () => {
    const [clientA, clientB] = [client(), client()];
    await eventually(() => clientA.status === "ready" && clientB.status === "ready");
    const events: FallbackEvent["state"][] = [];
    const lines: string[] = [];
    const log = logRateLimitFallback(createLogger({ level: "info", destination: { write: (l: string) => lines.push(l) } as never }));
    const budget = { perCaller: { points: 3, durationSec: 600 } };
    const a = createRouterRateLimiter({
      ...budget,
      redis: clientA,
      onFallback: (e) => {
        events.push(e.state);
        log(e);
      },
    });
    const b = createRouterRateLimiter({ ...budget, redis: clientB });

    const shared = [await a.consume("caller", "svc"), await b.consume("caller", "svc"), await a.consume("caller", "svc"), await b.consume("caller", "svc")];
    expect(shared.map((d) => d.ok)).toEqual([true, true, true, false]);
    expect(a.fallbackCount?.()).toBe(0);
    expect(events).toEqual([]);

    await redis.kill();
    const during = [];
    for (let i = 0; i < 5; i++) during.push((await a.consume("other", "svc")).ok);
    // Limited from this host's memory: the same budget, no longer shared.
    expect(during).toEqual([true, true, true, false, false]);
    expect(a.fallbackCount?.()).toBe(5);
    expect(events).toEqual(["fallback"]);
    expect(lines.join("")).toMatch(/Redis failed; limiting from this host's memory/);

    await redis.start();
    await eventually(() => clientA.status === "ready", 10_000);
    expect((await a.consume("third", "svc")).ok).toBe(true);
    expect(events).toEqual(["fallback", "recovered"]);
    expect(a.fallbackCount?.()).toBe(5);
    expect(lines.join("")).toMatch(/Redis answers again/);
  }, 30_000);

  it("a memory-only limiter has no fallback counter", () => {
    expect(createRouterRateLimiter({ perCaller: { points: 1, durationSec: 1 } }).fallbackCount).toBeUndefined();
  });
});

describe.skipIf(!haveRedis)("a host with rateLimit: { perCaller, redis }", () => {
  it("shares budgets through the given ioredis client; a Redis outage is limited from memory, logged and exported on /metrics", async () => {
    const redis = await startRedis();
    const limiterClient = new Redis(redis.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false });
    limiterClient.on("error", () => {});
    const provider = await startPlainKvProvider();
    const lines: string[] = [];
    const logger = createLogger({ level: "info", destination: { write: (l: string) => lines.push(l) } as never });
    const t = await startTestHost({ logger, rateLimit: { perCaller: { points: 2, durationSec: 600 }, redis: limiterClient } });
    const { transport, close } = connectTransport(t.url);
    try {
      await eventually(() => limiterClient.status === "ready");
      const p = await t.handshake({ pluginName: "kv", baseUrl: provider.url, provides: [{ type: KVService.typeName, version: "1.0.0" }] });
      await t.clients("connect").registry.register({ serviceType: KVService.typeName }, bearer(p.token));
      const c = await t.handshake({ pluginName: "consumer", requires: [{ type: KVService.typeName, versionRange: "*" }] });
      const kv = createClient(KVService, transport);
      const call = () => kv.get({ key: "k" }, bearer(c.token)).then(() => "ok", (e: unknown) => Code[ConnectError.from(e).code]);

      expect(await call()).toBe("ok");
      // The budget lives in Redis under the caller's proven name.
      expect(await limiterClient.keys("pb:rl:caller:*")).toEqual(["pb:rl:caller:name:consumer"]);

      await redis.kill();
      // Memory insurance: the same budget, counted afresh on this host.
      expect([await call(), await call(), await call()]).toEqual(["ok", "ok", "ResourceExhausted"]);
      expect(lines.join("")).toMatch(/rate limiter: Redis failed; limiting from this host's memory/);
      const metrics = await getText(t.url, "/metrics");
      expect(metrics).toMatch(/^plugboard_rate_limit_fallbacks_total 3$/m);
    } finally {
      close();
      await t.close();
      limiterClient.disconnect();
      await provider.close();
      await redis.stop();
    }
  }, 30_000);
});

async function getText(baseUrl: string, path: string): Promise<string> {
  const session = http2.connect(baseUrl);
  try {
    return await new Promise<string>((resolve, reject) => {
      const req = session.request({ ":path": path });
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => (body += chunk));
      req.on("end", () => resolve(body));
      req.on("error", reject);
      req.end();
    });
  } finally {
    session.close();
  }
}
