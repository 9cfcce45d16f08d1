export type * from "./types.js";
export { createMemoryStore } from "./memory.js";
export { createRedisStore, type RedisStore, type RedisStoreOptions } from "./redis.js";
export { validateRedisSource, type RedisSource, type RedisClient } from "./redis-source.js";
export type { DurableWritesOptions } from "./redis-durability.js";
