export type * from "./types.js";
export { createMemoryStore } from "./memory.js";
export { createRedisStore, type RedisStore, type RedisStoreOptions } from "./redis.js";
