/**
 * resolvePluginOptions at its edges: each refusal's exact message, the bounds of every number, which
 * environment variables it reads and removes, and the defaults it fills or leaves out.
 */
import type { Interceptor } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { silentLogger } from "../../../src/log/logger.js";
import { provide, requireService } from "../../../src/sdk/index.js";
import { resolvePluginOptions, type PluginOptions } from "../../../src/sdk/options.js";

const base: PluginOptions = { hostUrl: "http://127.0.0.1:7000", name: "p", version: "1.0.0", magicCookie: { key: "K", value: "V" }, logger: silentLogger() };
const resolve = (extra: Partial<PluginOptions>, env: NodeJS.ProcessEnv = {}) => resolvePluginOptions({ ...base, ...extra }, env);
const refusal = (extra: Partial<PluginOptions>, env: NodeJS.ProcessEnv = {}) => {
  try {
    resolve(extra, env);
  } catch (e) {
    return (e as Error).message;
  }
  return "accepted";
};

describe("plugin options: refusals", () => {
  it("names each mistake, prefixed createPlugin:", () => {
    const { hostUrl: _, ...noHost } = base;
    expect((() => {
      try {
        resolvePluginOptions(noHost, {});
      } catch (e) {
        return (e as Error).message;
      }
    })()).toBe("createPlugin: hostUrl (or env PLUGBOARD_HOST_URL) is required");
    expect(refusal({ hostUrl: "http://h:1/api" })).toBe("createPlugin: hostUrl must be http(s)://host:port");
    expect(refusal({ hostUrl: "xhttp://h:1" })).toBe("createPlugin: hostUrl must be http(s)://host:port");
    expect(refusal({ hostUrl: "http://h:1/x/" })).toBe("createPlugin: hostUrl must be http(s)://host:port");
    expect(refusal({ hostUrl: "http://" })).toBe("createPlugin: hostUrl must be http(s)://host:port");
    expect(refusal({ name: "" })).toBe("createPlugin: name is required");
    expect(refusal({ version: "1.0" })).toBe("createPlugin: version must be a semver version");
    expect(refusal({ magicCookie: { key: "K", value: "" } })).toMatch(/^createPlugin: magicCookie\.key and magicCookie\.value are required \(or env PLUGBOARD_MAGIC_COOKIE_KEY and PLUGBOARD_MAGIC_COOKIE_VALUE, which the host's launcher sets\)$/);
    expect(refusal({ magicCookie: { key: "", value: "V" } })).toMatch(/magicCookie/);
    expect(refusal({ provides: [provide(KVService, {}), provide(KVService, {})] })).toBe(`createPlugin: ${KVService.typeName} is provided twice`);
    expect(refusal({ provides: [provide(KVService, {}, { version: "two" })] })).toBe(`createPlugin: version of ${KVService.typeName} must be semver`);
    expect(refusal({ requires: [requireService(KVService, { versionRange: "^^1" })] })).toBe(`createPlugin: versionRange of ${KVService.typeName} is invalid`);
  });

  it("accepts what is valid: both schemes, a trailing slash, versions and ranges given", () => {
    expect(resolve({ hostUrl: "https://h.example:443/" }).hostUrl).toBe("https://h.example:443");
    expect(resolve({ hostUrl: "http://h" }).hostUrl).toBe("http://h");
    const o = resolve({ provides: [provide(KVService, {}, { version: "2.0.0" })], requires: [requireService(KVService, { versionRange: "^1.0.0" })] });
    expect(o.provides).toHaveLength(1);
    expect(o.requires).toHaveLength(1);
  });

  it("one of the magic cookie's variables alone is no cookie", () => {
    const { magicCookie: _, ...noCookie } = base;
    expect(() => resolvePluginOptions(noCookie, { PLUGBOARD_MAGIC_COOKIE_KEY: "EK" })).toThrow(/magicCookie/);
    expect(() => resolvePluginOptions(noCookie, { PLUGBOARD_MAGIC_COOKIE_VALUE: "EV" })).toThrow(/magicCookie/);
  });

  it("refreshAt lies strictly between 0 and 1", () => {
    const message = "createPlugin: refreshAt must be between 0 and 1";
    expect(refusal({ refreshAt: 0 })).toBe(message);
    expect(refusal({ refreshAt: 1 })).toBe(message);
    expect(refusal({ refreshAt: Number.NaN })).toBe(message);
    expect(resolve({ refreshAt: 0.01 }).refreshAt).toBe(0.01);
    expect(resolve({ refreshAt: 0.99 }).refreshAt).toBe(0.99);
  });

  it("a port is an integer from 0 to 65535, from the option or PLUGBOARD_PLUGIN_PORT", () => {
    const message = "createPlugin: listen.port must be a port number";
    expect(refusal({ listen: { port: -1 } })).toBe(message);
    expect(refusal({ listen: { port: 65_536 } })).toBe(message);
    expect(refusal({ listen: { port: 1.5 } })).toBe(message);
    expect(refusal({}, { PLUGBOARD_PLUGIN_PORT: "eighty" })).toBe(message);
    expect(resolve({ listen: { port: 65_535 } }).listen.port).toBe(65_535);
    expect(resolve({ listen: { port: 0 } }).listen.port).toBe(0);
    expect(resolve({}, { PLUGBOARD_PLUGIN_PORT: "0" }).listen.port).toBe(0);
    expect(resolve({ listen: { port: 7200 } }, { PLUGBOARD_PLUGIN_PORT: "7100" }).listen.port).toBe(7200);
  });

  it("drainTimeoutMs and heartbeatMs may be 0, maxMessageBytes must be positive", () => {
    const message = "createPlugin: drainTimeoutMs, maxMessageBytes and heartbeatMs must be non-negative";
    expect(refusal({ drainTimeoutMs: -1 })).toBe(message);
    expect(refusal({ heartbeatMs: -1 })).toBe(message);
    expect(refusal({ maxMessageBytes: 0 })).toBe(message);
    expect(resolve({ drainTimeoutMs: 0, heartbeatMs: 0, maxMessageBytes: 1 })).toMatchObject({ drainTimeoutMs: 0, heartbeatMs: 0, maxMessageBytes: 1 });
  });
});

describe("plugin options: the environment", () => {
  it("keeps a launch secret or an enrolment token in the environment when the option names its own", () => {
    const env: NodeJS.ProcessEnv = { PLUGBOARD_LAUNCH_SECRET: "env-secret", PLUGBOARD_ENROLMENT_TOKEN: "pbet_env" };
    const o = resolve({ launchSecret: "mine", enrolmentToken: "pbet_mine" }, env);
    expect([o.launchSecret, o.enrolmentToken]).toEqual(["mine", "pbet_mine"]);
    expect(env).toEqual({ PLUGBOARD_LAUNCH_SECRET: "env-secret", PLUGBOARD_ENROLMENT_TOKEN: "pbet_env" });
    const empty = resolve({}, {});
    expect([empty.launchSecret, empty.enrolmentToken]).toEqual(["", ""]);
  });

  it("AutoMTLS credentials given as an option serve and call; a listen.tls of the plugin's own is kept for its server", () => {
    const autoTls = { cert: "C", key: "K", ca: "A" };
    const o = resolve({ hostUrl: "https://h:1", autoTls });
    expect(o.autoTls).toBe(autoTls);
    expect(o.hostTls).toBe(autoTls);
    expect(o.listen.tls).toBe(autoTls);
    const own = { cert: "OC", key: "OK" };
    const mixed = resolve({ hostUrl: "https://h:1", autoTls, listen: { tls: own } });
    expect(mixed.listen.tls).toBe(own);
    expect(mixed.hostTls).toBe(autoTls);
    // Removing the launcher's variables does not need all three: any set is read and cleared.
    const env: NodeJS.ProcessEnv = { PLUGBOARD_TLS_KEY: "K", PLUGBOARD_TLS_CA: "A", PLUGBOARD_TLS_CERT: "" };
    expect(refusal({ hostUrl: "https://h:1" }, env)).toBe("createPlugin: PLUGBOARD_TLS_CERT, PLUGBOARD_TLS_KEY, PLUGBOARD_TLS_CA must be set together");
    expect(env).toEqual({});
    expect(refusal({ hostUrl: "https://h:1" }, { PLUGBOARD_TLS_CA: "A" })).toMatch(/must be set together/);
    expect(refusal({ hostUrl: "https://h:1" }, { PLUGBOARD_TLS_KEY: "K" })).toMatch(/must be set together/);
  });

  it("AutoMTLS needs a URL whose scheme is https, not one that merely contains https:", () => {
    const autoTls = { cert: "C", key: "K", ca: "A" };
    expect(refusal({ hostUrl: "http://h:1", autoTls })).toBe("createPlugin: AutoMTLS credentials need an https:// hostUrl");
    // A host named "https" on an http:// URL: the plain-text URL is still refused.
    expect(refusal({ hostUrl: "http://https:7000", autoTls })).toBe("createPlugin: AutoMTLS credentials need an https:// hostUrl");
  });

  it("without any TLS, no TLS keys at all", () => {
    const o = resolve({});
    expect("hostTls" in o).toBe(false);
    expect("autoTls" in o).toBe(false);
    expect("tls" in o.listen).toBe(false);
    expect("handshakeJwt" in o).toBe(false);
    expect("retry" in o).toBe(false);
    expect("circuitBreaker" in o).toBe(false);
  });
});

describe("plugin options: what is passed through", () => {
  it("keeps the plugin's own settings, copying the interceptor lists", () => {
    const jwt = () => "jwt";
    const server: Interceptor = (next) => next;
    const client: Interceptor = (next) => next;
    const serverList = [server];
    const o = resolve({
      appProtocolRanges: ["^2.0.0"],
      capabilities: [KVService],
      secrets: [{ name: "db" }],
      listen: { hostname: "0.0.0.0" },
      secretGraceMs: 1_000,
      handshakeJwt: jwt,
      retry: { maxAttempts: 2 },
      circuitBreaker: { failureThreshold: 3 },
      shutdownSignals: ["SIGUSR2"],
      drainTimeoutMs: 5,
      maxMessageBytes: 1024,
      heartbeatMs: 50,
      interceptors: { server: serverList, client: [client] },
    });
    expect(o).toMatchObject({
      appProtocolRanges: ["^2.0.0"],
      capabilities: [KVService],
      secrets: [{ name: "db" }],
      listen: { port: 0, hostname: "0.0.0.0" },
      secretGraceMs: 1_000,
      retry: { maxAttempts: 2 },
      circuitBreaker: { failureThreshold: 3 },
      shutdownSignals: ["SIGUSR2"],
      drainTimeoutMs: 5,
      maxMessageBytes: 1024,
      heartbeatMs: 50,
      name: "p",
      version: "1.0.0",
      magicCookie: { key: "K", value: "V" },
    });
    expect(o.handshakeJwt).toBe(jwt);
    expect(o.interceptors).toEqual({ server: [server], client: [client] });
    expect(o.interceptors.server).not.toBe(serverList);
    expect(resolve({ shutdownSignals: false }).shutdownSignals).toEqual([]);
  });

  it("fills the defaults left out above", () => {
    const o = resolve({});
    expect(o).toMatchObject({ requires: [], capabilities: [], secrets: [], provides: [], secretGraceMs: 300_000, heartbeatMs: 1_000 });
    expect(o.interceptors).toEqual({ server: [], client: [] });
  });

  it("a logger of its own is named after the plugin", () => {
    const { logger: _, ...noLogger } = base;
    const o = resolvePluginOptions({ ...noLogger, name: "named-plugin" }, {});
    expect((o.logger as unknown as { bindings(): Record<string, unknown> }).bindings()).toMatchObject({ name: "plugin:named-plugin" });
  });
});

describe("provide and requireService", () => {
  it("carry the service, its implementation and their options", () => {
    const impl = {};
    expect(provide(KVService, impl, { version: "1.1.0", metadata: { a: "b" }, weight: 3 })).toEqual({ service: KVService, impl, version: "1.1.0", metadata: { a: "b" }, weight: 3 });
    expect(requireService(KVService, { versionRange: "^1", optional: true })).toEqual({ service: KVService, versionRange: "^1", optional: true });
    expect(requireService(KVService)).toEqual({ service: KVService });
  });
});
