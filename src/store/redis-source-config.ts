import type { ConnectionOptions } from "node:tls";

// The forms of the Redis setting and their validation, without ioredis (an optional peer): the CLI
// config parser reads them whether or not a Redis store is used.

/** TLS towards Redis: `true` for the system CAs, or Node TLS options (ca, cert, key, servername…). */
export type RedisTls = boolean | ConnectionOptions;

/** Where the deployment's Redis is. One value configures both the store and the rate limiter. */
export type RedisSource =
  | string
  | { url: string }
  | {
      /** Sentinel addresses, "host:port". */
      sentinels: string[];
      /** The primary's name as the sentinels know it (`sentinel monitor <name> …`). */
      name: string;
      password?: string;
      /** Password of the sentinels themselves, when they have one. */
      sentinelPassword?: string;
      tls?: RedisTls;
    }
  | {
      /** Some of the cluster's nodes, "host:port"; the rest are discovered. */
      cluster: string[];
      password?: string;
      tls?: RedisTls;
    };

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/;

function address(value: unknown, field: string): { host: string; port: number } {
  const match = typeof value === "string" ? HOST_PORT.exec(value) : null;
  const port = match ? Number(match[2]) : 0;
  if (!match || port < 1 || port > 65535) throw new TypeError(`${field}: "${String(value)}" must be "host:port"`);
  return { host: match[1]!.replace(/^\[|\]$/g, ""), port };
}

export function parseAddresses(value: unknown, field: string): Array<{ host: string; port: number }> {
  if (!Array.isArray(value) || value.length === 0) throw new TypeError(`${field} must be a non-empty list of "host:port"`);
  return value.map((v, i) => address(v, `${field}[${i}]`));
}

const isUrl = (value: unknown): value is string => typeof value === "string" && /^rediss?:\/\//.test(value);

/** Throws a TypeError naming the field when `source` is not one of the RedisSource forms. */
export function validateRedisSource(source: unknown, field = "redis"): RedisSource {
  if (isUrl(source)) return source;
  if (typeof source !== "object" || source === null || Array.isArray(source)) {
    throw new TypeError(`${field} must be a redis:// URL or { url } | { sentinels, name } | { cluster }`);
  }
  const s = source as Record<string, unknown>;
  const modes = ["url", "sentinels", "cluster"].filter((k) => s[k] !== undefined);
  if (modes.length !== 1) throw new TypeError(`${field} needs exactly one of url, sentinels or cluster`);
  const allowed: Record<string, string[]> = {
    url: ["url"],
    sentinels: ["sentinels", "name", "password", "sentinelPassword", "tls"],
    cluster: ["cluster", "password", "tls"],
  };
  for (const k of Object.keys(s)) {
    if (!allowed[modes[0]!]!.includes(k)) throw new TypeError(`${field}.${k} is not an option with ${modes[0]}`);
  }
  for (const k of ["password", "sentinelPassword", "name"]) {
    if (s[k] !== undefined && (typeof s[k] !== "string" || s[k] === "")) throw new TypeError(`${field}.${k} must be a non-empty string`);
  }
  if (s["tls"] !== undefined && typeof s["tls"] !== "boolean" && (typeof s["tls"] !== "object" || s["tls"] === null)) {
    throw new TypeError(`${field}.tls must be true/false or TLS options`);
  }
  if (modes[0] === "url" && !isUrl(s["url"])) throw new TypeError(`${field}.url must be a redis:// or rediss:// URL`);
  if (modes[0] === "sentinels") {
    parseAddresses(s["sentinels"], `${field}.sentinels`);
    if (typeof s["name"] !== "string") throw new TypeError(`${field}.name (the primary's name in Sentinel) is required with sentinels`);
  }
  if (modes[0] === "cluster") parseAddresses(s["cluster"], `${field}.cluster`);
  return source as RedisSource;
}

