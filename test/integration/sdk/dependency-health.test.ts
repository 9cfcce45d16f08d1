import { afterAll, expect, it } from "vitest";
import { HealthState } from "../../../gen/plugboard/v1/common_pb.js";
import type { Plugin } from "../../../src/sdk/index.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { eventually, kvConsumer, kvProvider, enrolled } from "./harness.js";

let host: TestHost;
const plugins: Plugin[] = [];
afterAll(async () => {
  for (const p of plugins.reverse()) await p.stop();
  await host?.close();
});

it("a plugin whose required provider disappears reports DEGRADED naming it, and HEALTHY once one is back", async () => {
  host = await startTestHost();
  const first = kvProvider(host.url, {}, await enrolled(host, "kv-provider"));
  await first.start();
  const consumer = kvConsumer(host.url, await enrolled(host, "consumer"));
  plugins.push(consumer);
  await consumer.start();
  const health = async () => await host.host.store.getRuntime(consumer.runtimeId);
  await eventually(async () => expect((await health())?.health).toBe(HealthState.HEALTHY));

  await first.stop();
  await eventually(async () => {
    const runtime = await health();
    expect(runtime?.health).toBe(HealthState.DEGRADED);
    expect(runtime?.healthMessage).toBe("no healthy provider of kv.v1.KVService");
    return true;
  });

  const second = kvProvider(host.url, {}, await enrolled(host, "kv-provider"));
  plugins.push(second);
  await second.start();
  await eventually(async () => expect((await health())?.health).toBe(HealthState.HEALTHY));
});
