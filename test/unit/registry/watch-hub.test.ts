import { describe, expect, it, vi } from "vitest";
import { createWatchHub, type FannedEvent, type HubWatcher } from "../../../src/registry/watch-hub.js";
import { createMemoryStore } from "../../../src/store/memory.js";
import type { RegistrationRecord } from "../../../src/store/types.js";
import { registrationRecord } from "../../helpers/registration-record.js";

const KV = "kv.v1.KVService";
const record = (registrationId: string, serviceType = KV): RegistrationRecord =>
  registrationRecord(registrationId, { serviceType, runtimeId: "rt_provider" });

function watcher(serviceTypes: string[] = [], onDeliver: (e: FannedEvent) => void = () => undefined) {
  const got: string[] = [];
  const w: HubWatcher = {
    serviceTypes,
    runtimeId: undefined,
    deliver: (e) => {
      got.push(`${e.event.type}:${e.event.registration.registrationId}`);
      onDeliver(e);
    },
    runtimeEnded: () => undefined,
  };
  return { w, got };
}

describe("watch hub", () => {
  it("a write that emits an event (a Register's putRegistration) resumes before any watcher gets it", async () => {
    const store = createMemoryStore();
    const hub = createWatchHub(store);
    let writeReturned = false;
    const sawReturnedWrite: boolean[] = [];
    // A thousand watchers, each noting whether the write had already resumed its caller when the event reached it.
    const all = Array.from({ length: 1000 }, () => watcher([KV], () => sawReturnedWrite.push(writeReturned)));
    for (const { w } of all) hub.add(w);

    await store.putRegistration(record("rg_1"));
    writeReturned = true;
    expect(sawReturnedWrite).toEqual([]); // nothing delivered inside the write's await chain
    await vi.waitFor(() => expect(sawReturnedWrite).toHaveLength(1000), { timeout: 10_000 });
    expect(sawReturnedWrite.every(Boolean)).toBe(true);
  });

  it("keeps the store's order and loses no event, to the watchers of that type only, however the fan-out is sliced", async () => {
    const store = createMemoryStore();
    const hub = createWatchHub(store, 1); // one watcher per turn: events overlap across turns
    const kv = watcher([KV]);
    const all = watcher([]);
    const other = watcher(["log.v1.LogService"]);
    for (const { w } of [kv, all, other]) hub.add(w);
    await store.putRegistration(record("rg_1"));
    await store.putRegistration(record("rg_2"));
    await store.putRegistration({ ...record("rg_1"), weight: 5 });
    await store.removeRegistration("rg_2", "unregistered");
    const expected = ["added:rg_1", "added:rg_2", "updated:rg_1", "removed:rg_2"];
    await vi.waitFor(() => expect(kv.got).toEqual(expected), { timeout: 10_000 });
    expect(all.got).toEqual(expected);
    expect(other.got).toEqual([]);
  });

  it("a watcher added after an event happened, before its fan-out ran, does not get it; one removed gets nothing more", async () => {
    const store = createMemoryStore();
    const hub = createWatchHub(store);
    const early = watcher([KV]);
    const stopEarly = hub.add(early.w);
    await store.putRegistration(record("rg_1"));
    const before = hub.position();
    const late = watcher([KV]);
    hub.add(late.w);
    stopEarly();
    await store.putRegistration(record("rg_2"));
    expect(hub.position()).toBe(before + 1);
    await vi.waitFor(() => expect(late.got).toEqual(["added:rg_2"]), { timeout: 10_000 });
    expect(early.got).toEqual([]);
  });

  it("a watcher removed while an event is being fanned out (over several turns) does not get it", async () => {
    const store = createMemoryStore();
    const hub = createWatchHub(store, 1);
    const first = watcher([KV]);
    const second = watcher([KV]);
    let stopSecond = () => {};
    hub.add({ ...first.w, deliver: (e) => (first.w.deliver(e), stopSecond()) });
    stopSecond = hub.add(second.w);
    await store.putRegistration(record("rg_1"));
    await vi.waitFor(() => expect(first.got).toEqual(["added:rg_1"]), { timeout: 10_000 });
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(second.got).toEqual([]);
  });
});
