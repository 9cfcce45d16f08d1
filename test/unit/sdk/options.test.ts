import { describe, expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { silentLogger } from "../../../src/log/logger.js";
import { provide, requireService } from "../../../src/sdk/index.js";
import { resolvePluginOptions, type PluginOptions } from "../../../src/sdk/options.js";

const base: PluginOptions = { name: "p", version: "1.0.0", magicCookie: { key: "K", value: "V" }, logger: silentLogger() };

describe("plugin options", () => {
  it("takes host URL, port and launch secret from the environment, and removes the secret from it", () => {
    const env: NodeJS.ProcessEnv = { PLUGBOARD_HOST_URL: "http://127.0.0.1:7000/", PLUGBOARD_PLUGIN_PORT: "7100", PLUGBOARD_LAUNCH_SECRET: "s3cret" };
    const o = resolvePluginOptions(base, env);
    expect(o.hostUrl).toBe("http://127.0.0.1:7000");
    expect(o.listen).toEqual({ port: 7100, hostname: "127.0.0.1" });
    expect(o.launchSecret).toBe("s3cret");
    expect(env["PLUGBOARD_LAUNCH_SECRET"]).toBeUndefined();
  });

  it("takes the magic cookie from the environment the launcher sets, when the plugin names none", () => {
    const { magicCookie: _, ...noCookie } = base;
    const env = { PLUGBOARD_MAGIC_COOKIE_KEY: "EK", PLUGBOARD_MAGIC_COOKIE_VALUE: "EV" };
    expect(resolvePluginOptions({ ...noCookie, hostUrl: "http://h:1" }, env).magicCookie).toEqual({ key: "EK", value: "EV" });
    // An explicit cookie wins.
    expect(resolvePluginOptions({ ...base, hostUrl: "http://h:1" }, env).magicCookie).toEqual({ key: "K", value: "V" });
    expect(() => resolvePluginOptions({ ...noCookie, hostUrl: "http://h:1" }, {})).toThrow(/PLUGBOARD_MAGIC_COOKIE_KEY/);
  });

  it("takes an enrolment token from the environment and removes it from there; an explicit option wins", () => {
    const env: NodeJS.ProcessEnv = { PLUGBOARD_HOST_URL: "http://127.0.0.1:7000", PLUGBOARD_ENROLMENT_TOKEN: "pbet_from-env" };
    expect(resolvePluginOptions(base, env).enrolmentToken).toBe("pbet_from-env");
    expect(env["PLUGBOARD_ENROLMENT_TOKEN"]).toBeUndefined();
    const kept: NodeJS.ProcessEnv = { PLUGBOARD_HOST_URL: "http://127.0.0.1:7000", PLUGBOARD_ENROLMENT_TOKEN: "pbet_env" };
    expect(resolvePluginOptions({ ...base, enrolmentToken: "pbet_option" }, kept).enrolmentToken).toBe("pbet_option");
  });

  it("fills safe defaults", () => {
    const o = resolvePluginOptions({ ...base, hostUrl: "https://host.internal:443" }, {});
    expect(o).toMatchObject({
      refreshAt: 0.5,
      drainTimeoutMs: 10_000,
      maxMessageBytes: 4 * 1024 * 1024,
      shutdownSignals: ["SIGTERM", "SIGINT"],
      appProtocolRanges: ["^1.0.0"],
      listen: { port: 0, hostname: "127.0.0.1" },
      launchSecret: "",
    });
    expect(o.retry).toBeUndefined();
    expect(o.circuitBreaker).toBeUndefined();
  });

  it("refuses mistakes at construction", () => {
    const bad: [Partial<PluginOptions>, RegExp][] = [
      [{}, /hostUrl/],
      [{ hostUrl: "ftp://x" }, /hostUrl/],
      [{ hostUrl: "http://h:1", version: "one" }, /semver/],
      [{ hostUrl: "http://h:1", magicCookie: { key: "", value: "" } }, /magicCookie/],
      [{ hostUrl: "http://h:1", refreshAt: 1 }, /refreshAt/],
      [{ hostUrl: "http://h:1", listen: { port: 70_000 } }, /port/],
      [{ hostUrl: "http://h:1", provides: [provide(KVService, {}), provide(KVService, {})] }, /twice/],
      [{ hostUrl: "http://h:1", requires: [requireService(KVService, { versionRange: "not a range!" })] }, /versionRange/],
    ];
    for (const [extra, message] of bad) expect(() => resolvePluginOptions({ ...base, ...extra }, {})).toThrow(message);
  });
});
