import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/cli/config-fields.js";
import { parseHostConfig } from "../../../src/cli/host-config.js";

const base = { magicCookie: { key: "K", value: "V" } };

function problem(raw: unknown, env: NodeJS.ProcessEnv = {}): string {
  try {
    parseHostConfig(raw, "/etc/plugboard", env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error("config was accepted");
}

describe("host config", () => {
  it("fills defaults and resolves paths against the config folder", () => {
    const c = parseHostConfig({ ...base, tls: { cert: "host.pem", key: "host-key.pem" } }, "/etc/plugboard");
    expect(c.listen).toEqual({ hostname: "127.0.0.1", port: 7777 });
    expect(c.store).toEqual({ kind: "memory" });
    expect(c.tls).toMatchObject({ cert: "/etc/plugboard/host.pem" });
  });

  it('accepts tls: auto (AutoMTLS) and refuses identity.mtls beside it', () => {
    expect(parseHostConfig({ ...base, tls: "auto" }, "/").tls).toBe("auto");
    expect(() => parseHostConfig({ ...base, tls: "auto", identity: { mtls: {} } }, "/")).toThrow("config identity.mtls: is built in with tls: auto");
    expect(() => parseHostConfig({ ...base, tls: "manual" }, "/")).toThrow("config tls");
  });

  it("passes a plugin's sandbox to the launcher with its paths resolved against the config folder", () => {
    const c = parseHostConfig(
      {
        ...base,
        plugins: [
          {
            name: "kv",
            command: "node",
            sandbox: { node: { fsRead: ["plugins/kv", "/usr/lib/node_modules"] }, memoryCeilingBytes: 1 << 28, namespaces: { writable: ["data"] } },
          },
        ],
      },
      "/etc/plugboard",
    );
    expect(c.plugins[0]!.sandbox).toEqual({
      node: { fsRead: ["/etc/plugboard/plugins/kv", "/usr/lib/node_modules"], fsWrite: undefined },
      memoryCeilingBytes: 1 << 28,
      namespaces: { writable: ["/etc/plugboard/data"] },
    });
  });

  it("reads the cookie value and the redis URL from the environment", () => {
    const c = parseHostConfig({ magicCookie: { key: "K", valueEnv: "COOKIE" }, store: "redis" }, "/", {
      COOKIE: "v",
      PLUGBOARD_REDIS_URL: "redis://127.0.0.1:6379",
    });
    expect(c.magicCookie.value).toBe("v");
    expect(c.store).toEqual({ kind: "redis", source: "redis://127.0.0.1:6379" });
  });

  it("reads each Redis form of store:", () => {
    const sentinels = { sentinels: ["10.0.0.1:26379", "10.0.0.2:26379"], name: "main", password: "p", sentinelPassword: "s", tls: true };
    const cluster = { cluster: ["10.0.0.1:7000"], password: "p" };
    expect(parseHostConfig({ ...base, store: { redis: { url: "rediss://h:6380" } } }, "/").store).toEqual({ kind: "redis", source: { url: "rediss://h:6380" } });
    expect(parseHostConfig({ ...base, store: { redis: sentinels } }, "/").store).toEqual({ kind: "redis", source: sentinels });
    expect(
      parseHostConfig({ ...base, store: { redis: cluster, reconnectMaxDelayMs: 100, durableWrites: { replicas: 2, timeoutMs: 250 } } }, "/").store,
    ).toEqual({ kind: "redis", source: cluster, reconnectMaxDelayMs: 100, durableWrites: { replicas: 2, timeoutMs: 250 } });
    expect(parseHostConfig({ ...base, store: { redis: cluster, readCache: false, feedSilenceMs: 500 } }, "/").store).toEqual({
      kind: "redis",
      source: cluster,
      readCache: false,
      feedSilenceMs: 500,
    });
    expect(parseHostConfig({ ...base, store: { redis: cluster, readCache: { maxEntries: 100, maxAgeMs: 2000 } } }, "/").store).toEqual({
      kind: "redis",
      source: cluster,
      readCache: { maxEntries: 100, maxAgeMs: 2000 },
    });
  });

  it("reads name-proof settings: unproven names off by default, reserved names, SPIFFE layout, JWT name claim", () => {
    const tls = { cert: "h.pem", key: "k.pem", ca: "ca.pem", requestClientCert: true };
    expect(parseHostConfig(base, "/")).toMatchObject({ allowUnprovenNames: false, reservedNames: [] });
    const c = parseHostConfig(
      {
        ...base,
        tls,
        allowUnprovenNames: true,
        reservedNames: ["billing"],
        identity: {
          mtls: { pluginPathPrefix: "/workloads/plugins/" },
          jwt: { jwksUrl: "https://idp/jwks", issuer: "https://idp", audience: "pb", pluginNameClaim: "pb.plugin" },
        },
      },
      "/",
    );
    expect(c).toMatchObject({ allowUnprovenNames: true, reservedNames: ["billing"] });
    expect(c.identity.mtls?.pluginPathPrefix).toBe("/workloads/plugins/");
    expect(c.identity.jwt?.pluginNameClaim).toBe("pb.plugin");
    expect(problem({ ...base, tls, identity: { mtls: { pluginPathPrefix: "plugin" } } })).toContain("config identity.mtls.pluginPathPrefix");
  });

  it.each([
    [{}, "config magicCookie: must be a mapping"],
    [{ ...base, lisen: {} }, "config lisen: unknown setting"],
    [{ ...base, listen: { port: "80" } }, "config listen.port: must be a number"],
    [{ ...base, store: "postgres://x" }, "config store:"],
    [{ ...base, tls: { cert: "a", key: "b", requestClientCert: true } }, "config tls.ca: required"],
    [{ ...base, identity: { mtls: {} } }, "config identity.mtls: needs tls.requestClientCert"],
    [{ ...base, rateLimit: { perCaller: { points: 0, durationSec: 1 } } }, "config rateLimit.perCaller.points"],
    [{ ...base, limits: { maxMessageBytez: 1 } }, "config limits.maxMessageBytez: unknown setting"],
    [{ ...base, plugins: [{ name: "kv" }] }, "config plugins[0].command"],
    [{ ...base, plugins: [{ name: "kv", command: "x", restart: "sometimes" }] }, "config plugins[0].restart"],
    [{ magicCookie: { key: "K", valueEnv: "MISSING" } }, "config magicCookie.valueEnv: environment variable MISSING is not set"],
    [{ ...base, store: { redis: { sentinels: ["h:1"] } } }, "config store.redis: name (the primary's name in Sentinel) is required with sentinels"],
    [{ ...base, store: { redis: { cluster: ["h"] } } }, 'config store.redis: cluster[0]: "h" must be "host:port"'],
    [{ ...base, store: { redis: { url: "redis://h", cluster: ["h:1"] } } }, "config store.redis: needs exactly one of url, sentinels or cluster"],
    [{ ...base, store: { redis: { cluster: ["h:1"], name: "x" } } }, "config store.redis: name is not an option with cluster"],
    [{ ...base, store: { redis: { url: "h:1" } } }, "config store.redis: url must be a redis:// or rediss:// URL"],
    [{ ...base, store: { redis: { url: "redis://h" }, durableWrites: { replicas: -1 } } }, "config store.durableWrites.replicas"],
    [{ ...base, store: { redis: { url: "redis://h" }, readCache: { maxEntries: 0 } } }, "config store.readCache.maxEntries"],
    [{ ...base, store: { redis: { url: "redis://h" }, feedSilenceMs: 0 } }, "config store.feedSilenceMs"],
  ])("names the field: %j", (raw, message) => {
    expect(problem(raw)).toContain(message);
  });
});
