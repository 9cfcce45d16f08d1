import { afterAll, expect, it } from "vitest";
import { formatStatus } from "../../../src/cli/status-command.js";
import { HEALTH_NAMES } from "../../../src/protocol/health.js";
import { createPlugin } from "../../../src/sdk/index.js";
import { bearer } from "../../helpers/transports.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { pluginOptions, enrolled } from "../sdk/harness.js";

let t: TestHost | undefined;
afterAll(async () => {
  await t?.close();
});

it("one health vocabulary: what the SDK reports is what metrics and `plugboard status` say", async () => {
  t = await startTestHost({ policy: { isAdmin: () => true } });
  const ops = await t.host.listenOps({ port: 0 });
  const plugin = createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "moody")), name: "moody" }));
  await plugin.start();
  // An admin caller for ListRuntimes: a second (healthy) runtime.
  const admin = await t.handshake({ pluginName: "admin-cli" });
  try {
    for (const reported of ["degraded", "unhealthy", "healthy"] as const) {
      await plugin.reportHealth(reported);
      const metrics = await (await fetch(`${ops.url}/metrics`)).text();
      expect(metrics).toContain(`plugboard_active_plugins{health="${reported}"} ${reported === "healthy" ? 2 : 1}`);
      // Every word of the vocabulary is exported, and no other.
      const labels = [...metrics.matchAll(/plugboard_active_plugins\{health="([a-z_]+)"\}/g)].map((m) => m[1]);
      expect(labels.sort()).toEqual([...HEALTH_NAMES].sort());

      const status = await t.clients("connect").admin.listRuntimes({}, bearer(admin.token));
      expect(formatStatus(status)).toContain(`moody@1.0.0  ${plugin.runtimeId}  ${reported}`);
    }
  } finally {
    await plugin.stop();
  }
});
