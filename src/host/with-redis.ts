import { Redis } from "ioredis";
import { createLogger } from "../log/logger.js";
import { createRedisStore, type RedisStoreOptions } from "../store/redis.js";
import { createPluginHost, type PluginHost } from "./create.js";
import type { PluginHostOptions } from "./options.js";

export interface RedisPluginHostOptions extends Omit<PluginHostOptions, "store"> {
  /** redis:// or rediss:// URL shared by every host of the deployment. */
  redisUrl: string;
  /** Tuning for the shared store (key prefix, timeouts); the URL and logger come from above. */
  redisStore?: Omit<RedisStoreOptions, "url" | "client" | "logger">;
}

/**
 * A host whose state and rate limits live in Redis, so several hosts behind a load
 * balancer act as one. Async because the store waits for Redis at start-up (and throws
 * if it is not there). Rate-limit budgets given without their own `redis` client get one
 * on the same URL, owned and closed by the host.
 */
export async function createPluginHostWithRedis(options: RedisPluginHostOptions): Promise<PluginHost> {
  const { redisUrl, redisStore, ...hostOptions } = options;
  if (!/^rediss?:\/\//.test(redisUrl ?? "")) throw new Error("createPluginHostWithRedis: redisUrl must be a redis:// or rediss:// URL");
  const logger = hostOptions.logger ?? createLogger({ name: "plugboard" });
  const store = await createRedisStore({ ...redisStore, url: redisUrl, logger });
  const budgets = hostOptions.rateLimit;
  // No offline queue: while Redis is away the limiter falls back to memory at once instead of waiting.
  const limiterClient =
    budgets && !("consume" in budgets) && !budgets.redis
      ? new Redis(redisUrl, { maxRetriesPerRequest: 0, enableOfflineQueue: false, connectionName: "plugboard-ratelimit" })
      : undefined;
  limiterClient?.on("error", (err: Error) => logger.debug({ err: err.message }, "rate limiter redis connection error"));
  let host: PluginHost;
  try {
    // Budgets are shared from the first call, not after a start-up stretch limited from memory.
    if (limiterClient) await readyWithin(limiterClient, redisStore?.connectTimeoutMs ?? 5_000);
    host = createPluginHost({
      ...hostOptions,
      logger,
      store,
      ...(limiterClient && budgets && !("consume" in budgets) ? { rateLimit: { ...budgets, redis: limiterClient } } : {}),
    });
  } catch (e) {
    limiterClient?.disconnect();
    await store.close();
    throw e;
  }
  return {
    ...host,
    async close() {
      await host.close();
      limiterClient?.disconnect();
    },
  };
}

function readyWithin(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === "ready") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off("ready", onReady);
      reject(new Error(`createPluginHostWithRedis: rate limiter not connected to Redis after ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once("ready", onReady);
  });
}
