/**
 * Redis Cluster with a replica per primary: a deletion the lagging replica did not confirm is
 * refused to the caller, and after the primary dies and the replica takes over the store
 * re-applies it (the new primary never saw it).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore, type RedisStore } from "../../src/redis.js";
import { createKeyLayout } from "../../src/store/redis-keys.js";
import { findRedisServer } from "../helpers/redis.js";
import { haveRedisCluster, redisCommand, startRedisCluster, until, type RedisCluster } from "../helpers/redis-topologies.js";
import { credentialRecord, digestOf, runtimeRecord } from "./fixtures.js";

const hasRedis = findRedisServer() !== undefined;

describe.skipIf(!hasRedis || !haveRedisCluster())("redis store on a Cluster fail-over", () => {
  let cluster: RedisCluster;
  let store: RedisStore | undefined;
  beforeAll(async () => {
    cluster = await startRedisCluster({ replicas: 1 });
  }, 90_000);
  afterAll(async () => {
    // A store whose primary was killed may never finish closing: it is not what this test is about.
    await Promise.race([store?.close().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    await cluster?.stop();
  }, 90_000);

  it("re-applies a deletion the promoted replica never saw", async () => {
    store = await createRedisStore({
      source: { cluster: cluster.addresses },
      keyPrefix: "failover:",
      durableWrites: { timeoutMs: 300, recentLimit: Number(process.env["RECENT_LIMIT"] ?? 1000) },
      commandTimeoutMs: 1_000,
      ...(process.env["DEBUG_HA"] ? { logger: (await import("pino")).pino({ level: "debug" }) as never } : {}),
    });
    const s = store;
    await s.putRuntime(runtimeRecord("rt-1", { expiresAt: Date.now() + 600_000 }));
    await s.putCredential(digestOf("t1"), credentialRecord("tok-1", "rt-1", { expiresAt: Date.now() + 600_000 }));
    await s.putCredential(digestOf("t2"), credentialRecord("tok-2", "rt-1", { expiresAt: Date.now() + 600_000 }));
    await s.deleteCredential(digestOf("t1")); // confirmed by the replica

    // The node holding t2's credential (its digest's bucket).
    const primary = await cluster.nodeFor(createKeyLayout("failover:").credential(digestOf("t2")).cred);
    const replica = await cluster.replicaOf(primary);
    // The replica lags: stopped, and its link cut, so what the primary writes next never reaches it.
    replica.pause();
    try {
      await redisCommand(primary.port, "CLIENT", "KILL", "TYPE", "replica");
      await expect(s.deleteCredential(digestOf("t2"))).rejects.toThrow(/confirmed by 0 of 1 replica/);
      await primary.kill();
    } finally {
      replica.resume();
    }
    await until(async () => ((await redisCommand(replica.port, "ROLE")) as string[])[0] === "master", "the replica to take over", 60_000);
    // The new primary never saw the deletion of t2; the store re-applies it once it finds the new primary.
    await expect
      .poll(async () => s.getCredential(digestOf("t2")).then((c) => (c ? "present" : "deleted"), () => "unavailable"), {
        timeout: 60_000,
        interval: 200,
      })
      .toBe("deleted");
    expect(await s.getCredential(digestOf("t1"))).toBeUndefined();
  }, 120_000);
});
