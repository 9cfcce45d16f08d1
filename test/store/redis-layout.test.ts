/**
 * Key layout upgrades: a deployment upgraded in place must not silently lose its state. A store refuses
 * to start on keys of layout 1 (one slot per deployment) or of another bucket count, saying what to do.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore } from "../../src/redis.js";
import { findRedisServer, startRedis, type RedisServerHandle } from "../helpers/redis.js";
import { runtimeRecord } from "./fixtures.js";

const hasRedis = findRedisServer() !== undefined;

describe.skipIf(!hasRedis)("redis store key layout", () => {
  let server: RedisServerHandle;
  let admin: Redis;
  beforeAll(async () => {
    server = await startRedis();
    admin = new Redis(server.url);
  });
  afterAll(async () => {
    await admin?.quit();
    await server?.stop();
  });

  it("refuses to start on a layout-1 deployment's state, says how to upgrade, and writes nothing", async () => {
    // What a host of the previous version left: everything under the one tag {old}.
    await admin.set("{old}:epoch", "e1");
    await admin.zadd("{old}:rt-exp", Date.now() + 60_000, "rt-1");
    await admin.xadd("{old}:events", "*", "t", "added");
    const before = (await admin.keys("*")).sort();
    const failed = createRedisStore({ url: server.url, keyPrefix: "old:", connectTimeoutMs: 2_000 });
    await expect(failed).rejects.toThrow(/key layout 1 .* layout 2/);
    await expect(failed).rejects.toThrow("redis-cli --scan --pattern '{old}:*' | xargs -r redis-cli unlink");
    expect((await admin.keys("*")).sort()).toEqual(before);

    // Done as the message says, the upgraded host starts.
    await admin.unlink(...(await admin.keys("{old}:*")));
    const store = await createRedisStore({ url: server.url, keyPrefix: "old:" });
    await store.close();
    expect(await admin.get("{old}:layout")).toBe("2:16");
  });

  it("refuses a host whose bucket count differs from the deployment's", async () => {
    const first = await createRedisStore({ url: server.url, keyPrefix: "mixed:", buckets: 8 });
    try {
      await first.putRuntime(runtimeRecord("rt-1"));
      await expect(createRedisStore({ url: server.url, keyPrefix: "mixed:" })).rejects.toThrow(
        /use key layout 2:8 .* this host 2:16: every host of a deployment needs the same version and the same `buckets` option/,
      );
      const same = await createRedisStore({ url: server.url, keyPrefix: "mixed:", buckets: 8 });
      expect((await same.getRuntime("rt-1"))?.runtimeId).toBe("rt-1");
      await same.close();
    } finally {
      await first.close();
    }
  });

  it("spreads one deployment's keys over its buckets on a single Redis too", async () => {
    const store = await createRedisStore({ url: server.url, keyPrefix: "spread:" });
    try {
      for (let i = 0; i < 32; i++) await store.putRuntime(runtimeRecord(`rt-${i}`));
      const tags = new Set((await admin.keys("{spread:*}:rt:*")).map((k) => k.slice(0, k.indexOf("}") + 1)));
      expect(tags.size).toBeGreaterThan(8);
      expect(await store.countRuntimes()).toBe(32);
      expect((await store.listRuntimes()).length).toBe(32);
    } finally {
      await store.close();
    }
  });

  it("notices when one bucket's slot lost its data (a Cluster node back empty), not only the whole Redis", async () => {
    const store = await createRedisStore({ url: server.url, keyPrefix: "reset:", hostId: "reset-host" });
    try {
      let resets = 0;
      store.onReset(() => resets++);
      await store.putRuntime(runtimeRecord("rt-1"));
      // What a node restarted without persistence leaves: the slots it serves are empty.
      const bucketEpoch = (await admin.keys("{reset:*}:epoch")).find((k) => !k.startsWith("{reset}"))!;
      expect(bucketEpoch).toBeDefined();
      await admin.unlink(bucketEpoch);
      await admin.call("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"); // the store reconnects and looks
      await expect.poll(() => resets, { timeout: 10_000 }).toBe(1);
      expect(await admin.exists(bucketEpoch)).toBe(1); // claimed again: the next look finds it
    } finally {
      await store.close();
    }
  });
});
