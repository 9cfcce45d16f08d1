import { describe, expect, it } from "vitest";
import type { Cluster, Redis } from "ioredis";
import { connectRedis, describeRedisSource, validateRedisSource } from "../../src/store/redis-source.js";

const lazy = { connectionName: "t", enableOfflineQueue: false };

describe("Redis sources", () => {
  it("caps the reconnect backoff (default 200 ms) and reconnects at once on READONLY (a demoted primary)", () => {
    const forms = [
      connectRedis("redis://127.0.0.1:1", lazy),
      connectRedis({ sentinels: ["127.0.0.1:1"], name: "main" }, lazy),
      connectRedis("redis://127.0.0.1:1", { ...lazy, reconnectMaxDelayMs: 75 }),
    ] as Redis[];
    try {
      expect([1, 3, 10, 1000].map((n) => forms[0]!.options.retryStrategy!(n))).toEqual([50, 150, 200, 200]);
      expect(forms[1]!.options.sentinelRetryStrategy!(1000)).toBe(200);
      expect(forms[2]!.options.retryStrategy!(1000)).toBe(75);
      const onError = forms[1]!.options.reconnectOnError as (err: Error) => boolean | 1 | 2;
      expect(onError(new Error("READONLY You can't write against a read only replica."))).toBe(2);
      expect(onError(new Error("ERR wrong number of arguments"))).toBe(false);
    } finally {
      for (const c of forms) c.disconnect();
    }
    const cluster = connectRedis({ cluster: ["127.0.0.1:1"] }, lazy) as Cluster;
    try {
      expect(cluster.options.clusterRetryStrategy!(1000, new Error("x"))).toBe(200);
    } finally {
      cluster.disconnect();
    }
  });

  it("validates each form, naming the field", () => {
    expect(validateRedisSource("redis://h:1")).toBe("redis://h:1");
    expect(() => validateRedisSource("h:1")).toThrow("redis must be a redis:// URL or { url } | { sentinels, name } | { cluster }");
    expect(() => validateRedisSource({ sentinels: [], name: "m" })).toThrow('redis.sentinels must be a non-empty list of "host:port"');
    expect(() => validateRedisSource({ sentinels: ["h:99999"], name: "m" })).toThrow('redis.sentinels[0]: "h:99999" must be "host:port"');
    expect(() => validateRedisSource({ cluster: ["h:1"], password: "" })).toThrow("redis.password must be a non-empty string");
    expect(validateRedisSource({ cluster: ["[::1]:7000"], tls: { servername: "x" } })).toEqual({ cluster: ["[::1]:7000"], tls: { servername: "x" } });
  });

  it("describes a source without its password", () => {
    expect(describeRedisSource("redis://user:s3cret@h:1/0")).toBe("redis://***@h:1/0");
    expect(describeRedisSource({ sentinels: ["a:1", "b:2"], name: "m", password: "s3cret" })).toBe('sentinels a:1,b:2 (primary "m")');
  });
});
