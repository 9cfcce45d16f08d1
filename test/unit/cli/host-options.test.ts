import { describe, expect, it } from "vitest";
import { hostOptionsFromConfig } from "../../../src/cli/host-command.js";
import { parseHostConfig } from "../../../src/cli/host-config.js";
import { silentLogger } from "../../../src/log/logger.js";

describe("host options from a config file", () => {
  it("secrets.watch sets the WatchSecrets refresh; the rest configures the provider", async () => {
    const config = parseHostConfig(
      { magicCookie: { key: "K", value: "V" }, secrets: { kind: "env", prefix: "APP_", watch: { refreshIntervalMs: 5_000, jitter: 0.2 } } },
      "/etc/plugboard",
    );
    const options = await hostOptionsFromConfig(config, silentLogger());
    expect(options.secrets?.watch).toEqual({ refreshIntervalMs: 5_000, jitter: 0.2 });
    expect(options.secrets?.provider.kind).toBe("env");
  });
});

describe("lease, sweep and ejection settings from a config file (issue 20)", () => {
  const base = { magicCookie: { key: "K", value: "V" } };

  it("registrationLeaseMs, sweepIntervalMs and outlierEjection reach the host options", async () => {
    const config = parseHostConfig(
      {
        ...base,
        registrationLeaseMs: 3_000,
        sweepIntervalMs: 500,
        outlierEjection: { consecutiveFailures: 3, baseEjectionMs: 10_000, maxEjectionMs: 60_000, maxEjectedPercent: 34, hardFailureHoldMs: 250 },
      },
      "/etc/plugboard",
    );
    const options = await hostOptionsFromConfig(config, silentLogger());
    expect(options.registrationLeaseMs).toBe(3_000);
    expect(options.sweepIntervalMs).toBe(500);
    expect(options.outlierEjection).toEqual({ consecutiveFailures: 3, baseEjectionMs: 10_000, maxEjectionMs: 60_000, maxEjectedPercent: 34, hardFailureHoldMs: 250 });
  });

  it("0 turns leases off and false turns ejection off; unset leaves the host's defaults", async () => {
    const off = await hostOptionsFromConfig(parseHostConfig({ ...base, registrationLeaseMs: 0, outlierEjection: false }, "/etc"), silentLogger());
    expect(off.registrationLeaseMs).toBe(0);
    expect(off.outlierEjection).toBe(false);
    const unset = await hostOptionsFromConfig(parseHostConfig(base, "/etc"), silentLogger());
    expect("registrationLeaseMs" in unset).toBe(false);
    expect("outlierEjection" in unset).toBe(false);
    expect("sweepIntervalMs" in unset).toBe(false);
  });

  it("bad values are refused naming the field", () => {
    expect(() => parseHostConfig({ ...base, registrationLeaseMs: -1 }, "/etc")).toThrow(/registrationLeaseMs/);
    expect(() => parseHostConfig({ ...base, sweepIntervalMs: 0 }, "/etc")).toThrow(/sweepIntervalMs/);
    expect(() => parseHostConfig({ ...base, outlierEjection: { maxEjectedPercent: 101 } }, "/etc")).toThrow(/outlierEjection\.maxEjectedPercent/);
    expect(() => parseHostConfig({ ...base, outlierEjection: { consecutive: 2 } }, "/etc")).toThrow(/outlierEjection/);
  });
});
