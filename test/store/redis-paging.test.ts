import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { createRedisStore } from "../../src/redis.js";
import { createKeyLayout } from "../../src/store/redis-keys.js";
import { findRedisServer, useRedisServer } from "../helpers/redis.js";
import { registrationRecord, runtimeRecord } from "./fixtures.js";

/*
 * Layout 2 keeps `svc-order:<type>` with `svc:<type>` in the service's bucket, written by one script, so
 * there is no data that predates it (layout 1's state is refused: test/store/redis-layout.test.ts).
 */
describe.skipIf(findRedisServer() === undefined)("redis store: Discover's ordered index", () => {
  const redisServer = useRedisServer();

  it("pages a service type in id order; ids of a runtime that is gone are read past and tidied from both indexes", async () => {
    const keyPrefix = "paging:";
    const store = await createRedisStore({ url: redisServer().url, keyPrefix });
    const raw = new Redis(redisServer().url);
    try {
      await store.putRuntime(runtimeRecord("rt-a"));
      await store.putRuntime(runtimeRecord("rt-b"));
      for (const [id, rt] of [["rg_c", "rt-a"], ["rg_a", "rt-a"], ["rg_b", "rt-b"], ["rg_d", "rt-b"]] as const) {
        await store.putRegistration(registrationRecord(id, rt));
      }
      expect((await store.pageRegistrations("kv.v1.Store", undefined, 10)).map((r) => r.registrationId)).toEqual(["rg_a", "rg_b", "rg_c", "rg_d"]);
      expect((await store.registrationsAt("kv.v1.Store", 1, 2)).map((r) => r.registrationId)).toEqual(["rg_b", "rg_c"]);
      // rt-b's keys expire by Redis's TTL with no host sweeping: its registrations are gone.
      const layout = createKeyLayout(keyPrefix);
      const b = layout.runtime("rt-b");
      await raw.del(b.rt, b.regs, b.regx);
      expect((await store.pageRegistrations("kv.v1.Store", undefined, 2)).map((r) => r.registrationId)).toEqual(["rg_a", "rg_c"]);
      expect((await store.pageRegistrations("kv.v1.Store", "rg_a", 10)).map((r) => r.registrationId)).toEqual(["rg_c"]);
      expect(await raw.zrange(layout.serviceOrder("kv.v1.Store"), "0", "-1")).toEqual(["rg_a", "rg_c"]);
      expect(await store.countRegistrations({ serviceType: "kv.v1.Store" })).toBe(2);
    } finally {
      raw.disconnect();
      await store.close();
    }
  });
});
