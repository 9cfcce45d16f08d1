import { afterEach, expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { createKvService } from "../../../examples/kv-provider/kv-service.js";
import { createPlugin, provide } from "../../../src/sdk/index.js";
import { startTestHost } from "../../helpers/host.js";
import { enrolled, pluginOptions } from "./harness.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  closers.length = 0;
});

it("without heartbeats, the re-handshake itself registers the services again, under the new runtime", async () => {
  const t = await startTestHost();
  closers.push(() => t.close());
  const provider = createPlugin(
    pluginOptions(t.url, { ...(await enrolled(t, "kv-provider")), name: "kv-provider", provides: [provide(KVService, createKvService())], heartbeatMs: 0 }),
  );
  await provider.start();
  closers.push(() => provider.stop());
  const first = provider.runtimeId;
  expect(await t.host.store.removeRuntime(first, "revoked")).toBe(true);

  // The plugin's next call meets Unauthenticated: it handshakes again, re-registers, then the call is retried.
  const found = await provider.discover(KVService);
  expect(provider.runtimeId).not.toBe(first);
  expect(found.providers.map((p) => p.runtimeId)).toEqual([provider.runtimeId]);
});
