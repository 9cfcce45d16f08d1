import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { createKvService } from "../../../examples/kv-provider/kv-service.js";
import { createPlugin, provide } from "../../../src/sdk/index.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { enrolled, kvConsumer, pluginOptions } from "./harness.js";

/** stop() at the edges: never started, and a drain that runs out of time. */
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  closers.length = 0;
});

async function host(): Promise<TestHost> {
  const t = await startTestHost();
  closers.push(() => t.close());
  return t;
}

function capturingLogger(lines: Record<string, unknown>[]) {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return pino({ level: "debug" }, sink);
}

it("stop() of a plugin never started resolves, and leaves it stopped", async () => {
  const t = await host();
  const lines: Record<string, unknown>[] = [];
  const plugin = createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "consumer")), name: "consumer", logger: capturingLogger(lines) }));
  await plugin.stop();
  expect(lines.map((l) => l["msg"])).toEqual(["plugin stopped"]);
  await expect(plugin.start()).rejects.toThrow("createPlugin: start() called when stopped");
});

it("stop() whose drain runs out of time says so, naming drainTimeoutMs", async () => {
  const t = await host();
  const lines: Record<string, unknown>[] = [];
  const provider = createPlugin(
    pluginOptions(t.url, { ...(await enrolled(t, "kv-provider")), name: "kv-provider", provides: [provide(KVService, createKvService())], drainTimeoutMs: 100, logger: capturingLogger(lines) }),
  );
  await provider.start();
  closers.push(() => provider.stop());
  const consumer = kvConsumer(t.url, await enrolled(t, "consumer"));
  await consumer.start();
  closers.push(() => consumer.stop());
  const kv = consumer.client(KVService);
  for (const n of [1, 2, 3]) await kv.put({ key: `drain/${n}`, value: new TextEncoder().encode("v") });
  let stopping: Promise<void> | undefined;
  const listing = (async () => {
    // 2 s between items: the drain (100 ms) runs out first.
    for await (const e of kv.list({ prefix: "drain/", delayMs: 2_000 })) if (e.key === "drain/1") stopping = provider.stop();
  })().catch(() => undefined);
  await listing;
  await stopping;
  expect(lines.filter((l) => l["msg"] === "in-flight calls did not finish in time")).toEqual([expect.objectContaining({ drainTimeoutMs: 100 })]);
});
