import { describe } from "vitest";
import { createRedisStore } from "../../src/redis.js";
import { findRedisServer, useRedisServer } from "../helpers/redis.js";
import { describeStoreConformance } from "./conformance.js";

const hasRedis = findRedisServer() !== undefined;

describe.skipIf(!hasRedis)("redis store", () => {
  const redisServer = useRedisServer();
  let n = 0;

  // Each test gets its own key prefix: isolation without flushing between tests.
  describeStoreConformance("redis", async () => {
    const store = await createRedisStore({ url: redisServer().url, keyPrefix: `conf${++n}:` });
    return { store, cleanup: () => store.close() };
  });
});
