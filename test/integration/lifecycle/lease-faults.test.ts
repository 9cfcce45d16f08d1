/**
 * Issue 20, case 1: a provider run by hand is killed -9 (no health probe). Its registration is a
 * lease its heartbeat no longer renews, so every host sharing the store removes it
 * (REMOVAL_REASON_LEASE_EXPIRED) and routed calls go to the live provider again.
 */
import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { RemovalReason } from "../../../gen/plugboard/v1/registry_pb.js";
import { DEFAULT_REGISTRATION_LEASE_MS } from "../../../src/lifecycle/leases.js";
import { createRedisStore } from "../../../src/store/redis.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { killGroup } from "../../helpers/processes.js";
import { findRedisServer, startRedis } from "../../helpers/redis.js";
import { kvConsumer } from "../sdk/harness.js";
import { HAND_RUN, callUntil, startProvider, watchRemovals } from "./lease-harness.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  closers.length = 0;
});

async function fleet(t: TestHost, consumerHost = t) {
  const a = await startProvider(t.url, "kv-a");
  closers.push(() => killGroup(a.child));
  const b = await startProvider(t.url, "kv-b");
  closers.push(() => killGroup(b.child));
  const consumer = kvConsumer(consumerHost.url);
  await consumer.start();
  closers.push(() => consumer.stop());
  return { a, b, consumer, kv: consumer.client(KVService) };
}

describe("a provider killed -9 leaves rotation when its lease runs out", () => {
  it("default config: removed with LEASE_EXPIRED within the lease; then every call succeeds on the live provider", async () => {
    const t = await startTestHost({ ...HAND_RUN, registrationLeaseMs: DEFAULT_REGISTRATION_LEASE_MS });
    closers.push(() => t.close());
    const { a, consumer, kv } = await fleet(t);
    const watch = watchRemovals(consumer, closers);
    await watch.snapshot;
    await killGroup(a.child); // SIGKILL to its whole group: no unregister, no revoke
    const removed = await watch.removed(a.runtimeId, 30_000); // the default lease is 10 s
    expect(removed.removalReason).toBe(RemovalReason.LEASE_EXPIRED);
    const after = await Promise.all(Array.from({ length: 40 }, () => kv.get({ key: "k" }).then((r) => new TextDecoder().decode(r.value))));
    expect(new Set(after)).toEqual(new Set(["kv-b"]));
  }, 60_000);

  it("under load with a 1 s lease, routed calls fail only with Unavailable until the removal, then all reach the live provider", async () => {
    const t = await startTestHost({ ...HAND_RUN, registrationLeaseMs: 1_000 });
    closers.push(() => t.close());
    const { a, consumer, kv } = await fleet(t);
    const watch = watchRemovals(consumer, closers);
    await watch.snapshot;
    const before = await callUntil(kv, Promise.resolve(), 20);
    expect(before.every((r) => r.ok)).toBe(true);
    expect(new Set(before.map((r) => r.provider))).toEqual(new Set(["kv-a", "kv-b"]));
    await killGroup(a.child);
    // Calls go on back to back while the lease runs out; the removal is the event that ends the window.
    const during = await callUntil(kv, watch.removed(a.runtimeId, 20_000));
    const settled = await callUntil(kv, Promise.resolve(), 30);
    console.log(`case 1 (1 s lease): ${during.length} calls until the removal, ${during.filter((r) => !r.ok).length} failed; ${settled.filter((r) => !r.ok).length} of ${settled.length} failed after it`);
    expect(during.filter((r) => !r.ok).every((r) => r.code === Code.Unavailable)).toBe(true);
    expect(settled.filter((r) => !r.ok)).toEqual([]);
    expect(new Set(settled.map((r) => r.provider))).toEqual(new Set(["kv-b"]));
  }, 60_000);

  it.skipIf(!findRedisServer())("on a shared Redis store, every host removes it: a watcher on another host sees LEASE_EXPIRED", async () => {
    const redis = await startRedis();
    closers.push(() => redis.stop());
    const keyPrefix = `pb-lease-${Date.now()}:`;
    const storeA = await createRedisStore({ url: redis.url, keyPrefix });
    const storeB = await createRedisStore({ url: redis.url, keyPrefix });
    const hostA = await startTestHost({ ...HAND_RUN, store: storeA, registrationLeaseMs: 1_000 });
    closers.push(() => hostA.close());
    const hostB = await startTestHost({ ...HAND_RUN, store: storeB, registrationLeaseMs: 1_000 });
    closers.push(() => hostB.close());
    const { a, consumer } = await fleet(hostA, hostB);
    const watch = watchRemovals(consumer, closers);
    await watch.snapshot;
    await hostA.close(); // nobody sweeps on A's side: B must
    await killGroup(a.child);
    const removed = await watch.removed(a.runtimeId, 20_000);
    expect(removed.removalReason).toBe(RemovalReason.LEASE_EXPIRED);
  }, 60_000);
});
