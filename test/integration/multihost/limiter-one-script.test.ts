/**
 * The shared rate limiter spends every budget of a call in one script, with the same decisions as
 * the in-memory limiter (fixed windows, bursts, a refused caller spends no service budget).
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRouterRateLimiter, type RouterRateLimiterOptions } from "../../../src/ratelimit/index.js";
import { findRedisServer, startRedis, type RedisServerHandle } from "../../helpers/redis.js";
import { commandStats, statsDelta } from "./redis-commands.js";

const haveRedis = findRedisServer() !== undefined;

describe.skipIf(!haveRedis)("router rate limiter: one script per call", () => {
  let redis: RedisServerHandle;
  let client: Redis;
  let admin: Redis;
  let n = 0;

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false });
    admin = new Redis(redis.url);
    await admin.ping();
    while (client.status !== "ready") await new Promise((r) => setTimeout(r, 20));
  });
  afterAll(async () => {
    client?.disconnect();
    admin?.disconnect();
    await redis?.stop();
  });

  /** The same budgets in memory and on Redis (own key prefix per test). */
  const pair = (budgets: Omit<RouterRateLimiterOptions, "redis">) => ({
    memory: createRouterRateLimiter(budgets),
    shared: createRouterRateLimiter({ ...budgets, redis: client, keyPrefix: `t${++n}` }),
  });

  it("decides as the memory limiter does, bursts and service budgets included", async () => {
    const { memory, shared } = pair({
      perCaller: { points: 3, durationSec: 600, burst: 2 },
      perService: { points: 8, durationSec: 600, burst: 1 },
    });
    const script = ["a", "a", "a", "a", "a", "a", "a", "b", "b", "b", "c", "c", "c", "c"];
    const decide = async (l: typeof memory) => {
      const out: boolean[] = [];
      for (const caller of script) out.push((await l.consume(caller, "svc")).ok);
      return out;
    };
    const expected = await decide(memory);
    // a: 3 + 2 burst, then refused (spending no service budget); b: 3; c: the service's 8 + 1 burst run out.
    expect(expected).toEqual([true, true, true, true, true, false, false, true, true, true, true, false, false, false]);
    expect(await decide(shared)).toEqual(expected);
    expect(shared.fallbackCount?.()).toBe(0);
  });

  it("gives a retry delay within the window that refused", async () => {
    const { shared } = pair({ perCaller: { points: 1, durationSec: 2 } });
    expect((await shared.consume("x", "svc")).ok).toBe(true);
    const refused = await shared.consume("x", "svc");
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(2_000);
    }
  });

  it("costs one command per call however many budgets are configured", async () => {
    const { shared } = pair({
      perCaller: { points: 1_000, durationSec: 600, burst: 5 },
      perService: { points: 1_000, durationSec: 600, burst: 5 },
    });
    await shared.consume("warm", "svc");
    const before = await commandStats(admin);
    const calls = 50;
    for (let i = 0; i < calls; i++) await shared.consume(`caller-${i % 5}`, "svc");
    const delta = statsDelta(before, await commandStats(admin));
    expect((delta.get("evalsha") ?? 0) + (delta.get("eval") ?? 0)).toBe(calls);
    expect(delta.get("incr")).toBe(2 * calls); // inside the script: one INCR per budget under its limit
  });
});
