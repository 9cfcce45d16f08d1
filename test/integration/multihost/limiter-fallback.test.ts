/**
 * The shared rate limiter over a real redis-server: two limiters (two hosts) share one
 * budget; when Redis dies each falls back to its own memory, says so once and counts
 * every fallback decision; when Redis is back it says so and shares again.
 */
import { Redis } from "ioredis";
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
