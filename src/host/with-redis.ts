import { createLogger, type Logger } from "../log/logger.js";
import type { RouterRateLimiter, RouterRateLimiterOptions } from "../ratelimit/index.js";
import { createCachedReads, type CachedReadsOptions } from "../store/cached-reads.js";
import { createRedisStore, type RedisStore, type RedisStoreOptions } from "../store/redis.js";
import { connectRedis, validateRedisSource, type RedisClient, type RedisSource } from "../store/redis-source.js";
import { createPluginHost, type PluginHost } from "./create.js";
import type { PluginHostOptions } from "./options.js";

type StoreTuning = Omit<RedisStoreOptions, "url" | "source" | "client" | "logger">;

export interface RedisPluginHostOptions extends Omit<PluginHostOptions, "store"> {
  /** The Redis every host of the deployment shares: a URL, `{ url }`, `{ sentinels, name, … }` or `{ cluster, … }`. */
  redis?: RedisSource;
  /** Same as `redis: url` (kept for existing callers). */
  redisUrl?: string;
  /** Tuning for the shared store (key prefix, timeouts); the source and logger come from above. */
  redisStore?: StoreTuning;
  /** The local cache of what routed calls read, kept true by the store's events (docs/redis-store.md); false: none. */
  readCache?: CachedReadsOptions | false;
}

function sourceOf(options: { redis?: RedisSource | undefined; redisUrl?: string | undefined }): RedisSource {
  if ((options.redis === undefined) === (options.redisUrl === undefined)) throw new Error("give exactly one of redis or redisUrl");
  if (options.redisUrl !== undefined && !/^rediss?:\/\//.test(options.redisUrl)) throw new Error("redisUrl must be a redis:// or rediss:// URL");
  try {
    return validateRedisSource(options.redis ?? options.redisUrl, "redis");
  } catch (e) {
    throw new Error((e as Error).message);
  }
}

export interface RedisHostState {
  /** The shared store; closing it also closes the rate limiter's Redis connection. */
  store: RedisStore;
  /** The budgets, now kept in Redis (unchanged when none were given, or a ready limiter was). */
  rateLimit?: RouterRateLimiterOptions | RouterRateLimiter;
}

/**
 * Host options that keep state and rate-limit budgets in one Redis: the store, and for
 * budgets given without their own `redis` client, a client on the same URL that the
 * store's close() closes too. For `createPluginHost({ ...options, ...state })` and the CLI.
 */
export async function createRedisHostState(options: {
  redis?: RedisSource | undefined;
  /** Same as `redis: url`. */
  redisUrl?: string | undefined;
  logger: Logger;
  rateLimit?: RouterRateLimiterOptions | RouterRateLimiter | undefined;
  redisStore?: StoreTuning | undefined;
  readCache?: CachedReadsOptions | false | undefined;
}): Promise<RedisHostState> {
  const { logger, rateLimit, redisStore, readCache } = options;
  const source = sourceOf(options);
  const shared = await createRedisStore({ ...redisStore, source, logger });
  // Routed calls read credentials, runtimes and providers from memory; the store's events keep them true.
  let store: RedisStore;
  try {
    store = readCache === false ? shared : createCachedReads(shared, shared.feed, readCache);
  } catch (e) {
    await shared.close();
    throw e;
  }
  if (!rateLimit || "consume" in rateLimit || rateLimit.redis) return rateLimit ? { store, rateLimit } : { store };
  // No offline queue: while Redis is away the limiter falls back to memory at once instead of waiting.
  const client = connectRedis(source, {
    connectionName: "plugboard-ratelimit",
    enableOfflineQueue: false,
    reconnectMaxDelayMs: redisStore?.reconnectMaxDelayMs,
  });
  client.on("error", (err: Error) => logger.debug({ err: err.message }, "rate limiter redis connection error"));
  try {
    // Budgets are shared from the first call, not after a start-up stretch limited from memory.
    await readyWithin(client, redisStore?.connectTimeoutMs ?? 5_000);
  } catch (e) {
    client.disconnect();
    await store.close();
    throw e;
  }
  return {
    store: {
      ...store,
      async close() {
        client.disconnect();
        await store.close();
      },
    },
    rateLimit: { ...rateLimit, redis: client },
  };
}

/**
 * A host whose state and rate limits live in Redis, so several hosts behind a load
 * balancer act as one. Async because the store waits for Redis at start-up (and throws
 * if it is not there).
 */
export async function createPluginHostWithRedis(options: RedisPluginHostOptions): Promise<PluginHost> {
  const { redis, redisUrl, redisStore, readCache, ...hostOptions } = options;
  const logger = hostOptions.logger ?? createLogger({ name: "plugboard" });
  const state = await createRedisHostState({ redis, redisUrl, logger, rateLimit: hostOptions.rateLimit, redisStore, readCache });
  try {
    return createPluginHost({ ...hostOptions, logger, ...state });
  } catch (e) {
    await state.store.close();
    throw e;
  }
}

function readyWithin(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === "ready") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off("ready", onReady);
      reject(new Error(`rate limiter not connected to Redis after ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once("ready", onReady);
  });
}
