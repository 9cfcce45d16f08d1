/**
 * What a routed call costs in Redis, and that the local caches that make it cheap never let a
 * host act on a change it has not heard of: two in-process hosts (store and rate limiter on one
 * real redis-server), a provider registered on A, a consumer calling through B.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findRedisServer, startRedis, type RedisServerHandle } from "../../helpers/redis.js";
import { haveRedisCluster, startRedisCluster, type RedisCluster } from "../../helpers/redis-topologies.js";
import { eventually } from "../sdk/harness.js";
import { startPlainKvProvider } from "./harness.js";
import { bearer, commandsPerCall, KV, startCountingHost, type CountingHost } from "./redis-commands.js";
import { HEADER_PROVIDER } from "../../../src/protocol/constants.js";

const haveRedis = findRedisServer() !== undefined;
const CALLS = 200;
/** Generous: events reach other hosts in milliseconds; this only bounds a broken test. */
const EVENT_BOUND_MS = 10_000;
const pinned = (token: string, runtimeId: string) => ({ headers: { authorization: `Bearer ${token}`, [HEADER_PROVIDER]: runtimeId } });

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
    // One script for the limiter (per-caller and per-service budgets), no store reads: 1 sent, 2 INCRs inside.
    expect(perCallWithScripts).toBeLessThanOrEqual(3.1);
  }, 60_000);

  it("a consumer revoked on A is refused on B, which had it cached", async () => {
    const c = await consumer(b, "revoked-consumer");
    for (let i = 0; i < 3; i++) expect(await codeOf(b.kv.get({ key: "k" }, bearer(c.token)))).toBe("ok");
    await a.handshake.revoke({ reason: "test" }, bearer(c.token));
    await eventually(async () => (await codeOf(b.kv.get({ key: "k" }, bearer(c.token)))) === Code.Unauthenticated, EVENT_BOUND_MS);
    expect(await codeOf(b.kv.get({ key: "k" }, bearer(c.token)))).toBe(Code.Unauthenticated);
  });

  it("a provider unregistered on A stops getting calls routed by B", async () => {
    const second = await startPlainKvProvider();
    try {
      const p = await a.handshakeAs({ pluginName: "kv-second", baseUrl: second.url, provides: [{ type: KV, version: "1.0.0" }] });
      const reg = (await a.registry.register({ serviceType: KV }, bearer(p.token))).registration!;
      const c = await consumer(b, "unregister-consumer");
      const call = () => codeOf(b.kv.get({ key: "k" }, pinned(c.token, p.runtimeId)));
      await eventually(async () => (await call()) === "ok", EVENT_BOUND_MS);
      expect(await call()).toBe("ok"); // routed from B's cache
      await a.registry.unregister({ registrationId: reg.registrationId }, bearer(p.token));
      await eventually(async () => (await call()) === Code.Unavailable, EVENT_BOUND_MS);
      const calls = second.calls();
      expect(await call()).toBe(Code.Unavailable);
      expect(second.calls()).toBe(calls);
    } finally {
      await second.close();
    }
  });

  it("a consumer whose token is refreshed on A: its old token is refused on B, which had it cached", async () => {
    const c = await consumer(b, "refreshing-consumer");
    expect(await codeOf(b.kv.get({ key: "k" }, bearer(c.token)))).toBe("ok");
    const refreshed = await a.handshake.refreshToken({}, bearer(c.token));
    await eventually(async () => (await codeOf(b.kv.get({ key: "k" }, bearer(c.token)))) === Code.Unauthenticated, EVENT_BOUND_MS);
    expect(await codeOf(b.kv.get({ key: "k" }, bearer(refreshed.runtimeToken)))).toBe("ok");
  });
});

describe.skipIf(!haveRedis)("read caches across hosts: leases and Redis restarts", () => {
  let redis: RedisServerHandle;
  let a: CountingHost;
  let b: CountingHost;
  let provider: Awaited<ReturnType<typeof startPlainKvProvider>>;

  beforeAll(async () => {
    redis = await startRedis();
    // Short leases: a provider that never heartbeats leaves rotation within about a second.
    [a, b] = await Promise.all([startCountingHost(redis.url, { registrationLeaseMs: 1_000 }), startCountingHost(redis.url, { registrationLeaseMs: 1_000 })]);
    provider = await startPlainKvProvider();
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await provider?.close();
    await redis?.stop();
  }, 30_000);

  it("a lease that ends (provider silent) stops B routing to it", async () => {
    const p = await a.handshakeAs({ pluginName: "kv-silent", baseUrl: provider.url, provides: [{ type: KV, version: "1.0.0" }] });
    await a.registry.register({ serviceType: KV }, bearer(p.token));
    const c = await b.handshakeAs({ pluginName: "lease-consumer", requires: [{ type: KV, versionRange: "^1.0.0" }] });
    const call = () => codeOf(b.kv.get({ key: "k" }, pinned(c.token, p.runtimeId)));
    // Routed while the lease lasts (register renewed it), then refused once a host swept it.
    const seen = new Set<Code | "ok">();
    await eventually(async () => {
      seen.add(await call());
      return seen.has(Code.Unavailable);
    }, EVENT_BOUND_MS);
    expect(seen.has("ok")).toBe(true);
    expect(await call()).toBe(Code.Unavailable);
  });

  it("Redis restarted empty: nothing B cached is accepted (no stale token, no stale provider)", async () => {
    const p = await a.handshakeAs({ pluginName: "kv-before-restart", baseUrl: provider.url, provides: [{ type: KV, version: "1.0.0" }] });
    await a.registry.register({ serviceType: KV }, bearer(p.token));
    const c = await b.handshakeAs({ pluginName: "restart-consumer", requires: [{ type: KV, versionRange: "^1.0.0" }] });
    const call = () => codeOf(b.kv.get({ key: "k" }, bearer(c.token)));
    for (let i = 0; i < 3; i++) expect(await call()).toBe("ok");
    await redis.restart();
    const codes: Array<Code | "ok"> = [];
    await eventually(async () => {
      codes.push(await call());
      return codes.at(-1) === Code.Unauthenticated;
    }, EVENT_BOUND_MS);
    expect(codes).not.toContain("ok");
  }, 30_000);
});

describe.skipIf(!haveRedis || !haveRedisCluster())("Redis commands per routed call on a three-primary Cluster", () => {
  let cluster: RedisCluster;
  let a: CountingHost;
  let b: CountingHost;
  let provider: Awaited<ReturnType<typeof startPlainKvProvider>>;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    const source = { cluster: cluster.addresses };
    [a, b] = await Promise.all([startCountingHost(source, { registrationLeaseMs: 0 }), startCountingHost(source, { registrationLeaseMs: 0 })]);
    provider = await startPlainKvProvider();
    const p = await a.handshakeAs({ pluginName: "kv-provider", baseUrl: provider.url, provides: [{ type: KV, version: "1.0.0" }] });
    await a.registry.register({ serviceType: KV }, bearer(p.token));
  }, 90_000);

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await provider?.close();
    await cluster?.stop();
  }, 30_000);

  it(`costs at most 2 commands per routed call: one script per budget, on the budget's node (${CALLS} calls)`, async () => {
    const c = await b.handshakeAs({ pluginName: "cluster-consumer", requires: [{ type: KV, versionRange: "^1.0.0" }] });
    const call = () => b.kv.get({ key: "k" }, bearer(c.token));
    for (let i = 0; i < 20; i++) await call();
    const urls = cluster.addresses.map((address) => `redis://${address}`);
    const { perCall, perCallWithScripts, delta, one } = await commandsPerCall(urls, CALLS, call);
    console.info(
      `redis cluster commands per routed call: ${perCall.toFixed(2)} sent, ${perCallWithScripts.toFixed(2)} with those scripts run ` +
        `(commandstats: ${[...delta].map(([k, v]) => `${k}=${v}`).join(" ")}); one call: ${one.join(" | ")}`,
    );
    expect(perCall).toBeLessThanOrEqual(2);
  }, 60_000);
});
