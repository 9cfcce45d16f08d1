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
