/**
 * Issue 20, "also": a host on the memory store restarts (same address). Its providers' heartbeats,
 * beating sooner while it is unreachable, meet the new host at once, handshake again and register:
 * routed calls fail (Unavailable, retryable) only briefly.
 */
import { Code } from "@connectrpc/connect";
import { afterEach, expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { killGroup } from "../../helpers/processes.js";
import { kvConsumer } from "../sdk/harness.js";
import { HAND_RUN, callUntil, sleep, startProvider } from "./lease-harness.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  closers.length = 0;
});

it("after a host restart on the memory store, routed calls succeed again within about a second", async () => {
  let t: TestHost = await startTestHost(HAND_RUN);
  const port = Number(new URL(t.url).port);
  closers.push(() => t.close());
  const provider = await startProvider(t.url, "kv-a");
  closers.push(() => killGroup(provider.child));
  const consumer = kvConsumer(t.url);
  await consumer.start();
  closers.push(() => consumer.stop());
  const kv = consumer.client(KVService);
  expect((await kv.get({ key: "k" })).found).toBe(true);

  await t.close(); // everything it knew is gone
  await sleep(2_000); // longer than a heartbeat interval: the plugins' beats meet a closed port
  t = await startTestHost(HAND_RUN, { port });
  const upAt = Date.now();
  const records = await callUntil(kv, sleep(3_000));
  const late = records.filter((r) => r.at >= upAt + 1_000);
  const failed = records.filter((r) => !r.ok);
  console.log(`memory restart: ${records.length} calls after the host was back, ${failed.filter((r) => r.at < upAt + 1_000).length} failed in the first second, ${late.filter((r) => !r.ok).length} after`);
  expect(failed.every((r) => r.code === Code.Unavailable)).toBe(true);
  expect(late.length).toBeGreaterThan(20);
  expect(late.filter((r) => !r.ok)).toEqual([]);
}, 60_000);
