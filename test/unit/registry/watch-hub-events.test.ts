/**
 * What the watch hub tells each watcher: the event type and removal reason on the wire, the end of the
 * watching runtime (but not when it merely unregistered), one store subscription while anyone watches.
 * Written against `npm run mutate -- registry` (docs/testing.md).
 */
import { toBinary } from "@bufbuild/protobuf";
import { describe, expect, it, vi } from "vitest";
import { RemovalReason, WatchEventType, WatchResponseSchema } from "../../../gen/plugboard/v1/registry_pb.js";
import { createWatchHub, type FannedEvent, type HubWatcher } from "../../../src/registry/watch-hub.js";
import type { RegistrationRecord, RemovalCause, StoreEvent } from "../../../src/store/types.js";
import { registrationRecord } from "../../helpers/registration-record.js";

const KV = "kv.v1.KVService";
const record = (registrationId: string, runtimeId = "rt_provider", serviceType = KV): RegistrationRecord =>
  registrationRecord(registrationId, { serviceType, runtimeId });

/** A store that emits what the test says, counting its subscribers. */
function fakeStore() {
  const listeners = new Set<(e: StoreEvent) => void>();
  let subscribed = 0;
  return {
    subscribe(listener: (e: StoreEvent) => void) {
      subscribed++;
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    emit: (e: StoreEvent) => listeners.forEach((l) => l(e)),
    listeners: () => listeners.size,
    subscriptions: () => subscribed,
  };
}

function watcher(serviceTypes: string[] = [], runtimeId?: string) {
  const got: FannedEvent[] = [];
  let ended = 0;
  const w: HubWatcher = { serviceTypes, runtimeId, deliver: (e) => got.push(e), runtimeEnded: () => void ended++ };
  return { w, got, ended: () => ended };
}
const turns = async (n = 3) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

describe("watch hub events", () => {
  it("each event's type and removal reason on the wire, the same message for every watcher and in both codecs", async () => {
    const store = fakeStore();
    const hub = createWatchHub(store);
    const a = watcher([KV]);
    const b = watcher([]);
    hub.add(a.w);
    hub.add(b.w);
    const causes: [RemovalCause, RemovalReason][] = [
      ["unregistered", RemovalReason.UNREGISTERED],
      ["revoked", RemovalReason.RUNTIME_REVOKED],
      ["expired", RemovalReason.RUNTIME_EXPIRED],
      ["lease_expired", RemovalReason.LEASE_EXPIRED],
    ];
    store.emit({ type: "added", registration: record("rg_1") });
    store.emit({ type: "updated", registration: record("rg_1") });
    for (const [cause] of causes) store.emit({ type: "removed", registration: record("rg_1"), cause });
    await vi.waitFor(() => expect(a.got).toHaveLength(6), { timeout: 10_000 });
    const wire = a.got.map((e) => [e.message(false).type, e.message(false).removalReason, e.message(false).registrations[0]?.registrationId]);
    expect(wire).toEqual([
      [WatchEventType.ADDED, RemovalReason.UNSPECIFIED, "rg_1"],
      [WatchEventType.UPDATED, RemovalReason.UNSPECIFIED, "rg_1"],
      ...causes.map(([, reason]) => [WatchEventType.REMOVED, reason, "rg_1"]),
    ]);
    expect(b.got.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5]);
    for (const [i, e] of a.got.entries()) {
      expect(e.message(false)).toBe(b.got[i]!.message(false));
      expect(e.message(true)).toBe(b.got[i]!.message(true));
      expect(toBinary(WatchResponseSchema, e.message(true))).toEqual(toBinary(WatchResponseSchema, e.message(false)));
    }
  });

  it("tells a runtime's own watchers it ended when its registration goes for any reason but unregistering", async () => {
    const store = fakeStore();
    const hub = createWatchHub(store);
    // Watching another type: the end of the runtime reaches it all the same.
    const own = watcher(["log.v1.LogService"], "rt_w");
    const stranger = watcher([], "rt_other");
    const anonymous = watcher([]);
    hub.add(own.w);
    hub.add(stranger.w);
    hub.add(anonymous.w);
    store.emit({ type: "removed", registration: record("rg_1", "rt_w"), cause: "unregistered" });
    store.emit({ type: "added", registration: record("rg_2", "rt_w") });
    await turns();
    expect(own.ended()).toBe(0);
    for (const cause of ["revoked", "expired", "lease_expired"] as const) store.emit({ type: "removed", registration: record("rg_2", "rt_w"), cause });
    await turns();
    expect([own.ended(), stranger.ended(), anonymous.ended()]).toEqual([3, 0, 0]);
  });

  it("a watcher added after the runtime's registration was removed is not told of it", async () => {
    const store = fakeStore();
    const hub = createWatchHub(store);
    hub.add(watcher([]).w);
    store.emit({ type: "removed", registration: record("rg_1", "rt_w"), cause: "revoked" });
    const late = watcher([], "rt_w");
    hub.add(late.w);
    await turns();
    expect(late.ended()).toBe(0);
    expect(late.got).toEqual([]);
  });

  it("an event for a type nobody watches still ends the watching runtime", async () => {
    const store = fakeStore();
    const hub = createWatchHub(store);
    const own = watcher(["log.v1.LogService"], "rt_w");
    hub.add(own.w);
    store.emit({ type: "removed", registration: record("rg_1", "rt_w", "other.v1.Other"), cause: "expired" });
    await turns();
    expect(own.ended()).toBe(1);
    expect(own.got).toEqual([]);
  });

  it("a type named twice is delivered once", async () => {
    const store = fakeStore();
    const hub = createWatchHub(store);
    const twice = watcher([KV, KV]);
    hub.add(twice.w);
    store.emit({ type: "added", registration: record("rg_1") });
    await vi.waitFor(() => expect(twice.got).toHaveLength(1), { timeout: 10_000 });
    await turns();
    expect(twice.got).toHaveLength(1);
  });

  it("one store subscription while anyone watches; stopping twice counts once; the last stop unsubscribes", async () => {
    const store = fakeStore();
    const hub = createWatchHub(store);
    expect(store.listeners()).toBe(0);
    const a = watcher([KV], "rt_a");
    const b = watcher([]);
    const stopA = hub.add(a.w);
    const stopB = hub.add(b.w);
    expect([store.listeners(), store.subscriptions()]).toEqual([1, 1]);
    stopA();
    stopA();
    expect(store.listeners()).toBe(1);
    store.emit({ type: "removed", registration: record("rg_1", "rt_a"), cause: "revoked" });
    await vi.waitFor(() => expect(b.got).toHaveLength(1), { timeout: 10_000 });
    expect(a.got).toEqual([]);
    expect(a.ended()).toBe(0);
    stopB();
    expect(store.listeners()).toBe(0);
    const c = watcher([KV]);
    hub.add(c.w);
    expect([store.listeners(), store.subscriptions()]).toEqual([1, 2]);
  });

  it("a stopped watcher of a type shares it with none: another watcher of the type still gets events", async () => {
    const store = fakeStore();
    const hub = createWatchHub(store);
    const a = watcher([KV], "rt_a");
    const b = watcher([KV], "rt_a");
    const stopA = hub.add(a.w);
    hub.add(b.w);
    stopA();
    store.emit({ type: "removed", registration: record("rg_1", "rt_a"), cause: "expired" });
    await vi.waitFor(() => expect(b.got).toHaveLength(1), { timeout: 10_000 });
    expect([a.ended(), b.ended()]).toEqual([0, 1]);
  });
});
