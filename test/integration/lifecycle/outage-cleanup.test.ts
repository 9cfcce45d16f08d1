/**
 * Issue 20, case 3: a provider stopped gracefully during a Redis outage. Its unregister and revoke
 * meet Unavailable; the SDK retries them for its drain window, so once Redis is back the
 * registration goes and routed calls reach the live provider only.
 */
import { afterEach, expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { DEFAULT_REGISTRATION_LEASE_MS } from "../../../src/lifecycle/leases.js";
import { createRedisStore } from "../../../src/store/redis.js";
import { startTestHost } from "../../helpers/host.js";
import { exitOf, killGroup } from "../../helpers/processes.js";
import { findRedisServer, startRedis } from "../../helpers/redis.js";
import { kvConsumer } from "../sdk/harness.js";
import { HAND_RUN, callUntil, sleep, startProvider, watchRemovals } from "./lease-harness.js";
import { RemovalReason } from "../../../gen/plugboard/v1/registry_pb.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  closers.length = 0;
});

it.skipIf(!findRedisServer())("a provider stopped during a Redis outage leaves no registration behind once Redis returns", async () => {
  const redis = await startRedis({ persistent: true });
  closers.push(() => redis.stop());
  const store = await createRedisStore({ url: redis.url, keyPrefix: "pb-outage:", commandTimeoutMs: 500 });
  // The default 10 s lease is on, and the removal reason shows it is not what removes the registration.
  const t = await startTestHost({ ...HAND_RUN, store, registrationLeaseMs: DEFAULT_REGISTRATION_LEASE_MS });
  closers.push(() => t.close());
  const a = await startProvider(t.url, "kv-a");
  closers.push(() => killGroup(a.child));
  const b = await startProvider(t.url, "kv-b");
  closers.push(() => killGroup(b.child));
  const consumer = kvConsumer(t.url);
  await consumer.start();
  closers.push(() => consumer.stop());
  const kv = consumer.client(KVService);
  const warm = await Promise.all(Array.from({ length: 20 }, () => kv.get({ key: "k" }).then((r) => new TextDecoder().decode(r.value))));
  expect(new Set(warm)).toEqual(new Set(["kv-a", "kv-b"]));

  const watch = watchRemovals(consumer, closers);
  await watch.snapshot;

  await redis.kill(); // the outage
  process.kill(a.child.pid!, "SIGTERM"); // graceful stop: unregister and revoke meet Unavailable
  await sleep(1_500);
  await redis.start(); // back, with its data
  // "Back" is when the host's client has reconnected (ioredis's own reconnect backoff comes first).
  while (!(await store.ping())) await sleep(20);
  // Recovered is when A's registration is gone, removed by its own retried unregister (not by the
  // lease running out); from then on every routed call reaches B.
  expect((await watch.removed(a.runtimeId, 30_000)).removalReason).toBe(RemovalReason.UNREGISTERED);
  const settled = await callUntil(kv, Promise.resolve(), 30);
  console.log(`case 3: ${settled.filter((r) => !r.ok).length} of ${settled.length} routed calls failed after A's registration was removed`);
  expect(settled.filter((r) => !r.ok)).toEqual([]);
  expect(new Set(settled.map((r) => r.provider))).toEqual(new Set(["kv-b"]));
  // And the provider got its clean-up done and exited on its own.
  expect(await Promise.race([exitOf(a.child), sleep(15_000).then(() => "still running")])).toBe(0);
}, 60_000);
