import { afterEach, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { createPlugin } from "../../../src/sdk/index.js";
import { startTestHost } from "../../helpers/host.js";
import { pluginOptions } from "./harness.js";

describe("SDK: launch secret", () => {
  const saved = process.env["PLUGBOARD_LAUNCH_SECRET"];
  afterEach(() => {
    if (saved === undefined) delete process.env["PLUGBOARD_LAUNCH_SECRET"];
    else process.env["PLUGBOARD_LAUNCH_SECRET"] = saved;
  });

  it("reads the launcher's secret from the environment once, removes it, and is admitted", async () => {
    const host = await startTestHost({ requireLaunchSecret: true });
    try {
      process.env["PLUGBOARD_LAUNCH_SECRET"] = host.host.issueLaunchSecret("launched");
      const plugin = createPlugin(pluginOptions(host.url, { name: "launched" }));
      expect(process.env["PLUGBOARD_LAUNCH_SECRET"]).toBeUndefined();
      await plugin.start();
      expect(plugin.runtimeId).toMatch(/^rt_/);
      await plugin.stop();

      const stranger = createPlugin(pluginOptions(host.url, { name: "stranger" }));
      const err = await stranger.start().catch((e: unknown) => ConnectError.from(e));
      expect((err as ConnectError).code).toBe(Code.Unauthenticated);
      expect((err as ConnectError).rawMessage).not.toMatch(/pb[rg]t_/);
    } finally {
      await host.close();
    }
  });
});
