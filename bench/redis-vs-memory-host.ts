/**
 * The host child of bench/redis-vs-memory.ts: `tsx bench/redis-vs-memory-host.ts memory`
 * or `... redis redis://127.0.0.1:6379` or `... cluster 127.0.0.1:7000 127.0.0.1:7001 …`. Prints one JSON line `{"url": ...}`; exits when stdin closes.
 * Rate limits run on every call (per caller and per service) with budgets too large to refuse,
 * in memory or in Redis like the store, so each variant pays its own limiter's cost.
 */
import type { PluginHost } from "../src/host/create.js";
import { built } from "./built.js";
import { enrolmentTokens } from "./enrol.js";

export const BENCH_REDIS_COOKIE = { key: "PLUGBOARD_BENCH_REDIS", value: "bench-redis-cookie" };
const NEVER_REFUSE = { points: 1_000_000_000, durationSec: 1 };

async function main(): Promise<void> {
  const [kind, redisUrl, ...more] = process.argv.slice(2);
  // The compiled host, as users run it (bench/built.ts).
  const { createPluginHost } = (await import(built("src/host/create.js"))) as typeof import("../src/host/create.js");
  const { createPluginHostWithRedis } = (await import(built("src/host/with-redis.js"))) as typeof import("../src/host/with-redis.js");
  const { silentLogger } = (await import(built("src/log/logger.js"))) as typeof import("../src/log/logger.js");
  const common = {
    magicCookie: BENCH_REDIS_COOKIE,
    logger: silentLogger(),
    auditLog: { destination: () => undefined },
    rateLimit: { perCaller: NEVER_REFUSE, perService: NEVER_REFUSE },
  };
  let host: PluginHost;
  if (kind === "memory") host = createPluginHost(common);
  else if (kind === "redis" && redisUrl) host = await createPluginHostWithRedis({ ...common, redisUrl, redisStore: { keyPrefix: `bench:${process.pid}:` } });
  else if (kind === "cluster" && redisUrl) {
    host = await createPluginHostWithRedis({ ...common, redis: { cluster: [redisUrl, ...more] }, redisStore: { keyPrefix: `bench:${process.pid}:` } });
  } else throw new Error("usage: redis-vs-memory-host.ts memory | redis <redis-url> | cluster <host:port>…");
  const server = await host.listen({ hostname: "127.0.0.1" });
  console.log(JSON.stringify({ url: server.url, enrolment: await enrolmentTokens(host) }));
  process.stdin.on("end", () => void host.close().finally(() => process.exit(0))).resume();
}

if (process.argv[1]?.endsWith("redis-vs-memory-host.ts")) await main();
