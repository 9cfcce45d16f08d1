/**
 * `plugboard/redis`: state and rate-limit budgets shared between hosts through Redis.
 * Needs the optional peer ioredis.
 */
export { createRedisStore, type RedisStore, type RedisStoreOptions } from "./store/redis.js";
export { createPluginHostWithRedis, createRedisHostState, type RedisHostState, type RedisPluginHostOptions } from "./host/with-redis.js";
export { validateRedisSource, type RedisSource, type RedisTls, type RedisClient } from "./store/redis-source.js";
export type { DurableWritesOptions } from "./store/redis-durability.js";
/** For stores you build yourself: `createPluginHost({ store: createCachedReads(store, store.feed) })` (what createRedisHostState does). */
export { createCachedReads, type CachedReadsOptions } from "./store/cached-reads.js";
export type { StoreFeed, FeedChange } from "./store/store-feed.js";
