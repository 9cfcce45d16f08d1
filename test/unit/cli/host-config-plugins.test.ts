import { expect, it } from "vitest";
import { parseHostConfig } from "../../../src/cli/host-config.js";

const base = { magicCookie: { key: "K", value: "V" } };
const plugin = { name: "kv", command: "/bin/kv" };

it("plugin restart takes a policy name or backoff settings; exitOnPluginFailure defaults to false", () => {
  const c = parseHostConfig(
    { ...base, plugins: [{ ...plugin, restart: "never" }, { ...plugin, name: "b", restart: { maxRestarts: 2, initialDelayMs: 10, noRestartExitCodes: [2, 78] } }] },
    "/etc",
  );
  expect(c.exitOnPluginFailure).toBe(false);
  expect(c.plugins.map((p) => p.restart)).toEqual([
    { policy: "never" },
    { policy: "on-failure", maxRestarts: 2, initialDelayMs: 10, noRestartExitCodes: [2, 78] },
  ]);
  expect(parseHostConfig({ ...base, exitOnPluginFailure: true }, "/etc").exitOnPluginFailure).toBe(true);
});

it.each([
  [{ restart: "sometimes" }, "config plugins[0].restart: must be on-failure, always or never"],
  [{ restart: { policy: "sometimes" } }, "config plugins[0].restart.policy: must be on-failure, always or never"],
  [{ restart: { retries: 3 } }, "config plugins[0].restart.retries: unknown setting"],
  [{ restart: { noRestartExitCodes: [0] } }, "config plugins[0].restart.noRestartExitCodes[0]: must be a number ≥ 1"],
])("refuses plugin %j naming the field", (extra, message) => {
  expect(() => parseHostConfig({ ...base, plugins: [{ ...plugin, ...extra }] }, "/etc")).toThrow(message);
});
