import { Cluster, Redis, type RedisOptions } from "ioredis";
import { parseAddresses as addresses, type RedisSource, type RedisTls } from "./redis-source-config.js";

export { validateRedisSource, type RedisSource, type RedisTls } from "./redis-source-config.js";

export type RedisClient = Redis | Cluster;

export interface RedisConnectOptions {
  /** Names the connection (CLIENT LIST), for diagnosis. */
  connectionName: string;
  /** A command with no reply after this long rejects; undefined for none (a blocking reader). */
  commandTimeout?: number | undefined;
  /** Queue commands while disconnected (false: fail at once). */
  enableOfflineQueue: boolean;
  /**
   * Longest pause between reconnect attempts. ioredis' default grows to 2 s, so a host noticed a new
   * primary up to 2 s after Sentinel promoted it; a short cap serves again right after the switch. Default 200 ms.
   */
  reconnectMaxDelayMs?: number | undefined;
}

export const DEFAULT_RECONNECT_MAX_DELAY_MS = 200;

const tlsOption = (tls: RedisTls | undefined) => (tls === true ? {} : tls === false ? undefined : tls);

/** Opens one connection (or one Cluster client) of the given source; ioredis connects in the background. */
export function connectRedis(source: RedisSource, options: RedisConnectOptions): RedisClient {
  const cap = options.reconnectMaxDelayMs ?? DEFAULT_RECONNECT_MAX_DELAY_MS;
  const retry = (times: number) => Math.min(times * 50, cap);
  const common: RedisOptions = {
    maxRetriesPerRequest: 0,
    enableOfflineQueue: options.enableOfflineQueue,
    connectionName: options.connectionName,
    retryStrategy: retry,
    ...(options.commandTimeout !== undefined ? { commandTimeout: options.commandTimeout } : {}),
  };
  const s = typeof source === "string" ? { url: source } : source;
  if ("url" in s) return new Redis(s.url, common);
  const tls = tlsOption(s.tls);
  if ("sentinels" in s) {
    return new Redis({
      ...common,
      sentinels: addresses(s.sentinels, "sentinels"),
      name: s.name,
      ...(s.password ? { password: s.password } : {}),
      ...(s.sentinelPassword ? { sentinelPassword: s.sentinelPassword } : {}),
      ...(tls ? { tls, enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
      sentinelRetryStrategy: retry,
      // A primary demoted under us answers READONLY: reconnect (re-asking Sentinel) and resend, at once. Only
      // here: reconnecting to the same URL would not help, and Cluster follows MOVED by itself.
      reconnectOnError: (err) => (err.message.startsWith("READONLY") ? 2 : false),
      // No ioredis failoverDetector: in tests its disconnect on +switch-master raced a reconnect in progress and
      // left a connection that never came back. A dead primary refuses connections (retry, re-asking Sentinel,
      // every ≤ reconnectMaxDelayMs); a demoted live one answers READONLY (reconnectOnError above).
    });
  }
  return new Cluster(addresses(s.cluster, "cluster"), {
    clusterRetryStrategy: retry,
    enableOfflineQueue: options.enableOfflineQueue,
    scaleReads: "master",
    slotsRefreshTimeout: 2_000,
    redisOptions: {
      ...common,
      ...(s.password ? { password: s.password } : {}),
      ...(tls ? { tls } : {}),
    },
  });
}

/** A description of the source without secrets, for logs and errors. */
export function describeRedisSource(source: RedisSource): string {
  if (typeof source === "string" || "url" in source) {
    const url = typeof source === "string" ? source : source.url;
    return url.replace(/\/\/[^@/]*@/, "//***@");
  }
  if ("sentinels" in source) return `sentinels ${source.sentinels.join(",")} (primary "${source.name}")`;
  return `cluster ${source.cluster.join(",")}`;
}

/** Reads one field of an INFO reply. */
export function infoField(info: string, field: string): string | undefined {
  const match = new RegExp(`^${field}:(.*)$`, "m").exec(info);
  return match?.[1]?.trim();
}

/**
 * A plain URL that points at a Sentinel or a Cluster node connects, then fails every command
 * with a reply that says nothing useful. Ask the server what it is and say what to write instead.
 */
export async function checkRedisMode(client: Redis, source: RedisSource): Promise<void> {
  if (!(typeof source === "string" || "url" in source)) return;
  const info = await client.info("server");
  const mode = infoField(info, "redis_mode");
  const where = describeRedisSource(source);
  if (mode === "sentinel") {
    let names: string[] = [];
    try {
      const masters = (await client.call("SENTINEL", "MASTERS")) as Array<string[]>;
      names = masters.map((m) => m[m.indexOf("name") + 1]!).filter(Boolean);
    } catch {
      // the hint below works without the names
    }
    const name = names.length === 1 ? names[0] : "<primary name>";
    const port = client.options.port ?? 26379;
    throw new Error(
      `Redis at ${where} is a Sentinel, not a Redis server${names.length ? ` (it watches: ${names.join(", ")})` : ""}: ` +
        `write store: { redis: { sentinels: ["${client.options.host}:${port}", …], name: "${name}" } }`,
    );
  }
  if (mode === "cluster") {
    throw new Error(
      `Redis at ${where} is a Redis Cluster node: write store: { redis: { cluster: ["${client.options.host}:${client.options.port}", …] } }`,
    );
  }
  const replication = await client.info("replication");
  if (infoField(replication, "role") === "slave") {
    const primary = `${infoField(replication, "master_host")}:${infoField(replication, "master_port")}`;
    throw new Error(
      `Redis at ${where} is a read-only replica of ${primary}: point store at the primary, or at the sentinels with store: { redis: { sentinels: [...], name } }`,
    );
  }
}

/**
 * Why `{ cluster }` or `{ sentinels }` did not connect, when the cause is the mode: asks the first
 * listed address what it is (INFO server). Undefined when it cannot tell.
 */
export async function diagnoseSourceMode(source: RedisSource, options: { password?: string; tls?: RedisTls } = {}): Promise<string | undefined> {
  if (typeof source === "string" || "url" in source) return undefined;
  const listed = "cluster" in source ? source.cluster : source.sentinels;
  const first = addresses(listed, "redis")[0]!;
  const tls = tlsOption(source.tls ?? options.tls);
  const password = "cluster" in source ? source.password : source.sentinelPassword;
  const probe = new Redis({
    ...first,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 2_000,
    ...(password ? { password } : {}),
    ...(tls ? { tls } : {}),
  });
  probe.on("error", () => {});
  try {
    await probe.connect();
    const mode = infoField(await probe.info("server"), "redis_mode");
    const at = `${first.host}:${first.port}`;
    const scheme = tls ? "rediss" : "redis";
    if ("cluster" in source && mode === "standalone") return `${at} is a standalone Redis, not a Cluster node: write store: { redis: { url: "${scheme}://${at}" } }`;
    if ("cluster" in source && mode === "sentinel") return `${at} is a Sentinel, not a Cluster node: write store: { redis: { sentinels: ["${at}", …], name: "<primary name>" } }`;
    if ("sentinels" in source && mode === "standalone") return `${at} is a Redis server, not a Sentinel: write store: { redis: { url: "${scheme}://${at}" } }`;
    if ("sentinels" in source && mode === "cluster") return `${at} is a Redis Cluster node, not a Sentinel: write store: { redis: { cluster: ["${at}", …] } }`;
    return undefined;
  } catch {
    return undefined;
  } finally {
    probe.disconnect();
  }
}
