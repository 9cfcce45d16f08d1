import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { createRedisStore } from "../../src/redis.js";
import { taggedPrefix } from "../../src/store/redis.js";
import { findRedisServer, useRedisServer } from "../helpers/redis.js";
import { registrationRecord, runtimeRecord } from "./fixtures.js";

describe.skipIf(findRedisServer() === undefined)("redis store: Discover's ordered index", () => {
  const redisServer = useRedisServer();

  it("rebuilds a service type's sorted set from its set when the data predates it (or drifted), then pages from it", async () => {
    const keyPrefix = "paging-upgrade:";
    const writer = await createRedisStore({ url: redisServer().url, keyPrefix });
    const raw = new Redis(redisServer().url);
    try {
      await writer.putRuntime(runtimeRecord("rt-a"));
      for (const id of ["rg_c", "rg_a", "rg_b", "rg_d"]) await writer.putRegistration(registrationRecord(id, "rt-a"));
      // As written by a version without the sorted set: it is missing, or holds only some ids.
      const order = `${taggedPrefix(keyPrefix)}svc-order:kv.v1.Store`;
      await raw.del(order);
      await raw.zadd(order, 0, "rg_d");
      const upgraded = await createRedisStore({ url: redisServer().url, keyPrefix });
      try {
        expect((await upgraded.pageRegistrations("kv.v1.Store", undefined, 10)).map((r) => r.registrationId)).toEqual(["rg_a", "rg_b", "rg_c", "rg_d"]);
        expect((await upgraded.registrationsAt("kv.v1.Store", 1, 2)).map((r) => r.registrationId)).toEqual(["rg_b", "rg_c"]);
        // An id whose record is gone (expired with its runtime) is read past and tidied from both indexes.
        await raw.del(`${taggedPrefix(keyPrefix)}reg:rg_b`);
        expect((await upgraded.pageRegistrations("kv.v1.Store", "rg_a", 2)).map((r) => r.registrationId)).toEqual(["rg_c", "rg_d"]);
        expect(await raw.zrange(order, "0", "-1")).toEqual(["rg_a", "rg_c", "rg_d"]);
        expect(await upgraded.countRegistrations({ serviceType: "kv.v1.Store" })).toBe(3);
      } finally {
        await upgraded.close();
      }
    } finally {
      raw.disconnect();
      await writer.close();
    }
  });
});
