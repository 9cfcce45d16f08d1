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
import { HAND_RUN, sleep, startProvider, throughRecovery } from "./lease-harness.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  closers.length = 0;
});

it("after a host restart on the memory store, routed calls fail only with Unavailable, then succeed again for good", async () => {
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
  const { failures, settled } = await throughRecovery(kv);
  console.log(`memory restart: ${failures.length} routed calls failed before the first success, ${settled.filter((r) => !r.ok).length} of ${settled.length} after it`);
  expect(failures.every((r) => r.code === Code.Unavailable)).toBe(true);
  expect(settled.filter((r) => !r.ok)).toEqual([]);
}, 60_000);
