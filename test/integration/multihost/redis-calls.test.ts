/**
 * What a routed call costs in Redis, and that the local caches that make it cheap never let a
 * host act on a change it has not heard of: two in-process hosts (store and rate limiter on one
 * real redis-server), a provider registered on A, a consumer calling through B.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findRedisServer, startRedis, type RedisServerHandle } from "../../helpers/redis.js";
import { eventually } from "../sdk/harness.js";
import { startPlainKvProvider } from "./harness.js";
import { bearer, commandsPerCall, KV, startCountingHost, type CountingHost } from "./redis-commands.js";

const haveRedis = findRedisServer() !== undefined;
const CALLS = 200;

const codeOf = (p: Promise<unknown>): Promise<Code | "ok"> =>
  p.then(
    () => "ok" as const,
    (e: unknown) => ConnectError.from(e).code,
  );

describe.skipIf(!haveRedis)("Redis commands per routed call (two hosts, one Redis)", () => {
  let redis: RedisServerHandle;
  let admin: Redis;
  let a: CountingHost;
  let b: CountingHost;
  let provider: Awaited<ReturnType<typeof startPlainKvProvider>>;

  beforeAll(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url);
    // Leases off here (nothing heartbeats): the lease tests below start their own hosts.
    [a, b] = await Promise.all([startCountingHost(redis.url, { registrationLeaseMs: 0 }), startCountingHost(redis.url, { registrationLeaseMs: 0 })]);
    provider = await startPlainKvProvider();
    const p = await a.handshakeAs({ pluginName: "kv-provider", baseUrl: provider.url, provides: [{ type: KV, version: "1.0.0" }] });
    await a.registry.register({ serviceType: KV }, bearer(p.token));
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await provider?.close();
    admin?.disconnect();
    await redis?.stop();
  }, 30_000);

  const consumer = (host: CountingHost, name: string) => host.handshakeAs({ pluginName: name, requires: [{ type: KV, versionRange: "^1.0.0" }] });

  it(`costs at most 2 Redis commands per routed call in steady state (${CALLS} calls)`, async () => {
    const c = await consumer(b, "counted-consumer");
    const call = () => b.kv.get({ key: "k" }, bearer(c.token));
    for (let i = 0; i < 20; i++) await call(); // warm up: caches filled, connections open
    const { perCall, perCallWithScripts, delta, one } = await commandsPerCall(redis.url, CALLS, call);
    console.info(
      `redis commands per routed call: ${perCall.toFixed(2)} sent, ${perCallWithScripts.toFixed(2)} with those scripts run ` +
        `(commandstats: ${[...delta].map(([k, v]) => `${k}=${v}`).join(" ")}); one call: ${one.join(" | ")}`,
    );
    expect(provider.calls()).toBeGreaterThanOrEqual(CALLS);
    expect(perCall).toBeLessThanOrEqual(2);
  }, 60_000);
});
