/**
 * The Redis store on Sentinel and Cluster (real redis-server processes): the same conformance
 * suite on a three-primary Cluster, a wrong mode named with what to write instead, readiness
 * as a script round trip, and security writes that wait for the replica.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore, type RedisStore } from "../../src/redis.js";
import { findRedisServer, useRedisServer } from "../helpers/redis.js";
import {
  haveRedisCluster,
  startRedisCluster,
  startSentinelGroup,
  type RedisCluster,
  type SentinelGroup,
} from "../helpers/redis-topologies.js";
import { describeStoreConformance } from "./conformance.js";
import { credentialRecord, digestOf, runtimeRecord } from "./fixtures.js";

const hasRedis = findRedisServer() !== undefined;

describe.skipIf(!hasRedis || !haveRedisCluster())("redis store on a three-primary Cluster", () => {
  let cluster: RedisCluster;
  let n = 0;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  describeStoreConformance("redis cluster", async () => {
    const store = await createRedisStore({ source: { cluster: cluster.addresses }, keyPrefix: `cl${++n}:` });
    return { store, cleanup: () => store.close() };
  });

  it("names a cluster node given as a plain URL and says what to write", async () => {
    const url = `redis://${cluster.addresses[0]}`;
    await expect(createRedisStore({ url, connectTimeoutMs: 5_000 })).rejects.toThrow(
      /is a Redis Cluster node: write store: \{ redis: \{ cluster: \["127\.0\.0\.1:\d+"/,
    );
  });

  it("is not ready while the node serving its slot is down", async () => {
    const store = await createRedisStore({ source: { cluster: cluster.addresses }, keyPrefix: "ready:", commandTimeoutMs: 1_000 });
    try {
      expect(await store.ping()).toBe(true);
      const owner = await cluster.nodeFor("{ready}:epoch");
      owner.pause();
      try {
        expect(await store.ping()).toBe(false);
      } finally {
        owner.resume();
      }
      // ioredis may have dropped the node's connection meanwhile; it comes back.
      await expect.poll(() => store.ping(), { timeout: 20_000, interval: 200 }).toBe(true);
    } finally {
      await store.close();
    }
  }, 40_000);
});

describe.skipIf(!hasRedis)("redis store on Sentinel", () => {
  let group: SentinelGroup;
  const stores: RedisStore[] = [];
  beforeAll(async () => {
    group = await startSentinelGroup();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
    await group?.stop();
  });

  it("names a sentinel given as a plain URL, with the primary's name", async () => {
    await expect(createRedisStore({ url: `redis://${group.sentinelAddresses[0]}` })).rejects.toThrow(
      `is a Sentinel, not a Redis server (it watches: ${group.name}): write store: { redis: { sentinels: ["${group.sentinelAddresses[0]}", …], name: "${group.name}" } }`,
    );
  });

  it("names a replica given as a plain URL", async () => {
    await expect(createRedisStore({ url: `redis://${group.replica.address}` })).rejects.toThrow(
      `is a read-only replica of ${group.primary.address}: point store at the primary, or at the sentinels`,
    );
  });

  it("waits for the replica before acknowledging a revocation, and answers an error when it does not confirm", async () => {
    const store = await createRedisStore({
      source: { sentinels: group.sentinelAddresses, name: group.name },
      keyPrefix: "durable:",
      durableWrites: { timeoutMs: 300 },
    });
    stores.push(store);
    await store.putRuntime(runtimeRecord("rt-1"));
    await store.putCredential(digestOf("t1"), credentialRecord("tok-1", "rt-1"));
    await store.putCredential(digestOf("t2"), credentialRecord("tok-2", "rt-1"));
    await store.deleteCredential(digestOf("t1")); // replica in sync: confirmed
    group.replica.pause(); // the replica lags: acknowledges nothing
    try {
      await expect(store.deleteCredential(digestOf("t2"))).rejects.toThrow(/confirmed by 0 of 1 replica/);
    } finally {
      group.replica.resume();
    }
    await store.deleteCredential(digestOf("t2")); // the caller's retry succeeds once the replica keeps up
    expect(await store.getCredential(digestOf("t2"))).toBeUndefined();
  }, 30_000);
});

describe.skipIf(!hasRedis)("redis store: a mode that does not match the server", () => {
  const server = useRedisServer();

  it("says what it is and what to write: { cluster } or { sentinels } pointed at a plain Redis", async () => {
    const address = `127.0.0.1:${server().port}`;
    await expect(createRedisStore({ source: { cluster: [address] }, connectTimeoutMs: 2_000 })).rejects.toThrow(
      `Redis store: ${address} is a standalone Redis, not a Cluster node: write store: { redis: { url: "redis://${address}" } }`,
    );
    await expect(createRedisStore({ source: { sentinels: [address], name: "main" }, connectTimeoutMs: 2_000 })).rejects.toThrow(
      `Redis store: ${address} is a Redis server, not a Sentinel: write store: { redis: { url: "redis://${address}" } }`,
    );
  }, 20_000);

  it("keeps the last connection error when it cannot tell (nothing listening)", async () => {
    await expect(createRedisStore({ url: "redis://127.0.0.1:1", connectTimeoutMs: 500 })).rejects.toThrow(
      /not connected after 500 ms \(last error: .*ECONNREFUSED/,
    );
  });
});
