/**
 * Issue 20, case 1: a provider run by hand is killed -9 (no health probe). Its registration is a
 * lease its heartbeat no longer renews, so every host sharing the store removes it
 * (REMOVAL_REASON_LEASE_EXPIRED) and routed calls go to the live provider again.
 */
import { afterEach, describe, expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { RemovalReason, WatchEventType, type WatchResponse } from "../../../gen/plugboard/v1/registry_pb.js";
import { createRedisStore } from "../../../src/store/redis.js";
import type { Plugin } from "../../../src/sdk/index.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { killGroup } from "../../helpers/processes.js";
import { findRedisServer, startRedis } from "../../helpers/redis.js";
import { kvConsumer } from "../sdk/harness.js";
import { HAND_RUN, callUntil, sleep, startProvider } from "./lease-harness.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  closers.length = 0;
});

/** Watches KVService through `consumer`; resolves `removed(runtimeId)` on its REMOVED event. */
function watchRemovals(consumer: Plugin) {
  const abort = new AbortController();
  closers.push(async () => abort.abort());
  const events: WatchResponse[] = [];
  const waiters: Array<() => void> = [];
  void (async () => {
    try {
      for await (const event of consumer.watch(KVService, { signal: abort.signal })) {
        events.push(event);
        for (const w of waiters.splice(0)) w();
      }
    } catch {
      // aborted at the end of the test
    }
  })();
  const removal = (runtimeId: string) =>
    events.find((e) => e.type === WatchEventType.REMOVED && e.registrations.some((r) => r.runtimeId === runtimeId));
  return {
    async removed(runtimeId: string, timeoutMs: number): Promise<WatchResponse> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = removal(runtimeId);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no REMOVED event for ${runtimeId} within ${timeoutMs} ms`);
        await new Promise<void>((r) => (waiters.push(r), setTimeout(r, 200)));
      }
    },
  };
}

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
    const t = await startTestHost(HAND_RUN);
    closers.push(() => t.close());
    const { a, consumer, kv } = await fleet(t);
    const watch = watchRemovals(consumer);
    await sleep(300); // the watch's snapshot
    await killGroup(a.child); // SIGKILL to its whole group: no unregister, no revoke
    const removed = await watch.removed(a.runtimeId, 30_000); // the default lease is 10 s
    expect(removed.removalReason).toBe(RemovalReason.LEASE_EXPIRED);
    const after = await Promise.all(Array.from({ length: 40 }, () => kv.get({ key: "k" }).then((r) => new TextDecoder().decode(r.value))));
    expect(new Set(after)).toEqual(new Set(["kv-b"]));
  }, 60_000);

  it("under load with a 1 s lease, routed calls succeed again within about a second of the kill", async () => {
    const t = await startTestHost({ ...HAND_RUN, registrationLeaseMs: 1_000 });
    closers.push(() => t.close());
    const { a, kv } = await fleet(t);
    let killedAt = 0;
    const records = await callUntil(
      kv,
      (async () => {
        await sleep(500);
        killedAt = Date.now();
        await killGroup(a.child);
        await sleep(3_000);
      })(),
    );
    const before = records.filter((r) => r.at < killedAt);
    const late = records.filter((r) => r.at >= killedAt + 1_500);
    const failedEarly = records.filter((r) => r.at >= killedAt && r.at < killedAt + 1_500 && !r.ok).length;
    console.log(`case 1 (1 s lease): ${records.length} calls, ${failedEarly} failed in the 1.5 s after the kill, ${late.filter((r) => !r.ok).length} after`);
    expect(before.every((r) => r.ok)).toBe(true);
    expect(new Set(before.map((r) => r.provider))).toEqual(new Set(["kv-a", "kv-b"]));
    expect(late.length).toBeGreaterThan(20);
    expect(late.filter((r) => !r.ok)).toEqual([]);
    expect(new Set(late.map((r) => r.provider))).toEqual(new Set(["kv-b"]));
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
    const watch = watchRemovals(consumer);
    await sleep(300);
    await hostA.close(); // nobody sweeps on A's side: B must
    await killGroup(a.child);
    const removed = await watch.removed(a.runtimeId, 20_000);
    expect(removed.removalReason).toBe(RemovalReason.LEASE_EXPIRED);
  }, 60_000);
});
