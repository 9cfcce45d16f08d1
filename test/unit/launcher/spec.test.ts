import { describe, expect, it } from "vitest";
import { createRestartTracker, shouldRestart } from "../../../src/launcher/backoff.js";
import { pluginEnv } from "../../../src/launcher/env.js";
import { resolveSpec } from "../../../src/launcher/spec.js";

describe("resolveSpec", () => {
  it("fills in defaults; readiness follows the plugin's own declarations unless given", () => {
    const s = resolveSpec({ name: "kv", command: "/bin/kv", provides: ["kv.v1.KVService"] });
    expect(s).toMatchObject({
      args: [],
      env: {},
      inheritEnv: [],
      startTimeoutMs: 10_000,
      stopGraceMs: 5_000,
      registrations: undefined,
      restart: { policy: "on-failure", initialDelayMs: 200, maxDelayMs: 10_000, maxRestarts: 5, windowMs: 60_000 },
    });
  });

  it.each([
    [{ name: "bad name", command: "x" }, /spec.name/],
    [{ name: "kv", command: "" }, /command is required/],
    [{ name: "kv", command: "x", env: { "A=B": "1" } }, /not a valid variable/],
    [{ name: "kv", command: "x", env: { PLUGBOARD_LAUNCH_SECRET: "mine" } }, /set by the launcher/],
    [{ name: "kv", command: "x", port: 70_000 }, /port/],
    [{ name: "kv", command: "x", startTimeoutMs: 0 }, /startTimeoutMs/],
    [{ name: "kv", command: "x", restart: { policy: "sometimes" as never } }, /restart.policy/],
    [{ name: "kv", command: "x", restart: { policy: "always" as const, maxDelayMs: -1 } }, /maxDelayMs/],
  ])("refuses %j", (spec, error) => {
    expect(() => resolveSpec(spec)).toThrow(error);
  });
});

describe("pluginEnv", () => {
  it("passes the host's magic cookie, as go-plugin does", () => {
    const spec = resolveSpec({ name: "kv", command: "x" });
    const env = pluginEnv(spec, { hostUrl: "http://127.0.0.1:1", launchSecret: "pbls_x", port: 5, parentPid: 9, magicCookie: { key: "K", value: "V" } }, {});
    expect(env).toMatchObject({ PLUGBOARD_MAGIC_COOKIE_KEY: "K", PLUGBOARD_MAGIC_COOKIE_VALUE: "V" });
    expect(() => resolveSpec({ name: "kv", command: "x", env: { PLUGBOARD_MAGIC_COOKIE_VALUE: "x" } })).toThrow(/set by the launcher/);
  });

  it("holds the spec's variables, allow-listed host ones and PLUGBOARD_*, nothing else", () => {
    const spec = resolveSpec({ name: "kv", command: "x", env: { FOO: "1" }, inheritEnv: ["PATH", "MISSING"] });
    const env = pluginEnv(spec, { hostUrl: "http://127.0.0.1:1", launchSecret: "pbls_x", port: 5, parentPid: 9 }, { PATH: "/bin", HOME: "/root", AWS_SECRET_ACCESS_KEY: "s" });
    expect(env).toEqual({
      FOO: "1",
      PATH: "/bin",
      PLUGBOARD_HOST_URL: "http://127.0.0.1:1",
      PLUGBOARD_LAUNCH_SECRET: "pbls_x",
      PLUGBOARD_PLUGIN_PORT: "5",
      PLUGBOARD_PARENT_PID: "9",
    });
  });
});

describe("restart tracking", () => {
  it("doubles the delay up to the ceiling and gives up past maxRestarts within the window", () => {
    let t = 0;
    const tracker = createRestartTracker({ policy: "always", initialDelayMs: 100, maxDelayMs: 350, maxRestarts: 4, windowMs: 1_000, noRestartExitCodes: [] }, () => t);
    expect([tracker.next(), tracker.next(), tracker.next(), tracker.next()]).toEqual([100, 200, 350, 350]);
    expect(tracker.next()).toBeUndefined();
    t = 1_001; // the window moved on
    tracker.stable();
    expect(tracker.next()).toBe(100);
  });

  it("restarts by policy", () => {
    expect(shouldRestart("on-failure", { code: 0, signal: null })).toBe(false);
    expect(shouldRestart("on-failure", { code: 1, signal: null })).toBe(true);
    expect(shouldRestart("on-failure", { code: null, signal: "SIGKILL" })).toBe(true);
    expect(shouldRestart("always", { code: 0, signal: null })).toBe(true);
    expect(shouldRestart("never", { code: 1, signal: null })).toBe(false);
    // A command that could not be spawned is not retried, whatever the policy.
    expect(shouldRestart("always", { code: -1, signal: null })).toBe(false);
    expect(shouldRestart("on-failure", { code: -1, signal: null })).toBe(false);
    // Nor is a plugin that exits with a "refused, restarting will not help" code.
    expect(shouldRestart("always", { code: 2, signal: null }, [2])).toBe(false);
    expect(shouldRestart("on-failure", { code: 2, signal: null }, [])).toBe(true);
  });
});

import { createInFlightCounter } from "../../../src/launcher/in-flight.js";

describe("createInFlightCounter", () => {
  it("counts per runtime and ignores calls refused before resolution", () => {
    const c = createInFlightCounter();
    c.onCallStart({ runtimeId: "rt_a" });
    c.onCallStart({ runtimeId: "rt_a" });
    c.onCallStart({ runtimeId: "rt_b" });
    c.onCallEnd({});
    c.onCallEnd({ runtimeId: "rt_a" });
    expect([c.count("rt_a"), c.count("rt_b"), c.count("rt_c")]).toEqual([1, 1, 0]);
    c.onCallEnd({ runtimeId: "rt_a" });
    c.onCallEnd({ runtimeId: "rt_a" }); // never below zero
    expect(c.count("rt_a")).toBe(0);
  });
});

describe("createInFlightCounter: the safe retry", () => {
  it("a call moved to another provider is counted there, and no longer at the first", () => {
    const c = createInFlightCounter();
    c.onCallStart({ runtimeId: "a" });
    c.onCallRetried({ from: "a", to: "b" });
    expect(c.count("a")).toBe(0);
    expect(c.count("b")).toBe(1);
    c.onCallEnd({ runtimeId: "b" });
    expect(c.count("b")).toBe(0);
  });
});
