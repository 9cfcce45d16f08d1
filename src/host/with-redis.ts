import { Redis } from "ioredis";
import { createLogger, type Logger } from "../log/logger.js";
import type { RouterRateLimiter, RouterRateLimiterOptions } from "../ratelimit/index.js";
import { createRedisStore, type RedisStore, type RedisStoreOptions } from "../store/redis.js";
import { createPluginHost, type PluginHost } from "./create.js";
import type { PluginHostOptions } from "./options.js";

export interface RedisPluginHostOptions extends Omit<PluginHostOptions, "store"> {
  /** redis:// or rediss:// URL shared by every host of the deployment. */
  redisUrl: string;
  /** Tuning for the shared store (key prefix, timeouts); the URL and logger come from above. */
  redisStore?: Omit<RedisStoreOptions, "url" | "client" | "logger">;
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
  redisUrl: string;
  logger: Logger;
  rateLimit?: RouterRateLimiterOptions | RouterRateLimiter | undefined;
  redisStore?: Omit<RedisStoreOptions, "url" | "client" | "logger"> | undefined;
}): Promise<RedisHostState> {
  const { redisUrl, logger, rateLimit, redisStore } = options;
  if (!/^rediss?:\/\//.test(redisUrl ?? "")) throw new Error("redisUrl must be a redis:// or rediss:// URL");
  const store = await createRedisStore({ ...redisStore, url: redisUrl, logger });
  if (!rateLimit || "consume" in rateLimit || rateLimit.redis) return rateLimit ? { store, rateLimit } : { store };
  // No offline queue: while Redis is away the limiter falls back to memory at once instead of waiting.
  const client = new Redis(redisUrl, { maxRetriesPerRequest: 0, enableOfflineQueue: false, connectionName: "plugboard-ratelimit" });
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
  const { redisUrl, redisStore, ...hostOptions } = options;
  const logger = hostOptions.logger ?? createLogger({ name: "plugboard" });
  const state = await createRedisHostState({ redisUrl, logger, rateLimit: hostOptions.rateLimit, redisStore });
  try {
    return createPluginHost({ ...hostOptions, logger, ...state });
  } catch (e) {
    await state.store.close();
    throw e;
  }
}

function readyWithin(client: Redis, timeoutMs: number): Promise<void> {
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
