import { afterAll, beforeAll, describe } from "vitest";
import { createRedisStore } from "../../src/store/index.js";
import { findRedisServer, startRedis, type RedisServerHandle } from "../helpers/redis.js";
import { describeStoreConformance } from "./conformance.js";

const hasRedis = findRedisServer() !== undefined;

describe.skipIf(!hasRedis)("redis store", () => {
  let server: RedisServerHandle;
  let n = 0;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  // Each test gets its own key prefix: isolation without flushing between tests.
  describeStoreConformance("redis", async () => {
    const store = await createRedisStore({ url: server.url, keyPrefix: `conf${++n}:` });
    return { store, cleanup: () => store.close() };
  });
});
