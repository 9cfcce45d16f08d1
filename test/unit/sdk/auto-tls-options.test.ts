import { describe, expect, it } from "vitest";
import { resolvePluginOptions } from "../../../src/sdk/options.js";

const base = { name: "kv", version: "1.0.0", magicCookie: { key: "K", value: "V" } };
const launched = () => ({
  PLUGBOARD_HOST_URL: "https://127.0.0.1:7000",
  PLUGBOARD_TLS_CERT: "CERT",
  PLUGBOARD_TLS_KEY: "KEY",
  PLUGBOARD_TLS_CA: "CA",
  OTHER: "kept",
});

describe("SDK options: AutoMTLS credentials from the launcher", () => {
  it("serve and call with them, and deletes them from the environment so children do not inherit the key", () => {
    const env: NodeJS.ProcessEnv = launched();
    const resolved = resolvePluginOptions(base, env);
    expect(resolved.autoTls).toEqual({ cert: "CERT", key: "KEY", ca: "CA" });
    // One object: a renewal written into it reaches both the server and the host connection.
    expect(resolved.hostTls).toBe(resolved.autoTls);
    expect(resolved.listen.tls).toBe(resolved.autoTls);
    expect(env).toEqual({ PLUGBOARD_HOST_URL: "https://127.0.0.1:7000", OTHER: "kept" });
  });

  it("gives way to hostTls configured by hand (the variables are still removed)", () => {
    const env: NodeJS.ProcessEnv = launched();
    const resolved = resolvePluginOptions({ ...base, hostTls: { ca: "MINE" } }, env);
    expect(resolved.autoTls).toBeUndefined();
    expect(resolved.hostTls).toEqual({ ca: "MINE" });
    expect(env["PLUGBOARD_TLS_KEY"]).toBeUndefined();
  });

  it("refuses half a set, and AutoMTLS towards a plain-text host", () => {
    expect(() => resolvePluginOptions(base, { PLUGBOARD_HOST_URL: "https://h:1", PLUGBOARD_TLS_CERT: "C" })).toThrow(
      "createPlugin: PLUGBOARD_TLS_CERT, PLUGBOARD_TLS_KEY, PLUGBOARD_TLS_CA must be set together",
    );
    expect(() => resolvePluginOptions(base, { ...launched(), PLUGBOARD_HOST_URL: "http://127.0.0.1:7000" })).toThrow(
      "createPlugin: AutoMTLS credentials need an https:// hostUrl",
    );
  });
});
