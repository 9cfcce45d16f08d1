/**
 * The watch hub's fan-out per turn of the event loop: at most `sliceSize` deliveries a turn, one
 * flush scheduled however many events arrive in a turn; and an event's binary message built first.
 * Written against `npm run mutate -- registry` (docs/testing.md).
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { WatchEventType, WatchResponseSchema } from "../../../gen/plugboard/v1/registry_pb.js";
import { createWatchHub, type FannedEvent, type HubWatcher } from "../../../src/registry/watch-hub.js";
import type { RegistrationRecord, StoreEvent } from "../../../src/store/types.js";
import { registrationRecord } from "../../helpers/registration-record.js";

const KV = "kv.v1.KVService";
const record = (registrationId: string): RegistrationRecord => registrationRecord(registrationId, { serviceType: KV, runtimeId: "rt_provider" });

function fakeStore() {
  const listeners = new Set<(e: StoreEvent) => void>();
  return {
    subscribe(listener: (e: StoreEvent) => void) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    emit: (e: StoreEvent) => listeners.forEach((l) => l(e)),
  };
}

function watcher(got: FannedEvent[]): HubWatcher {
  return { serviceTypes: [KV], runtimeId: undefined, deliver: (e) => got.push(e), runtimeEnded: () => undefined };
}

/** One turn of the event loop: immediates queued before this one (the hub's flush) run first. */
const turn = () => new Promise((r) => setImmediate(r));
/** How many events `got` holds after each of the next `turns` turns. */
const deliveredPerTurn = async (got: FannedEvent[], turns: number) => {
  const perTurn: number[] = [];
  for (let i = 0; i < turns; i++) {
    await turn();
    perTurn.push(got.length);
  }
  return perTurn;
};

describe("watch hub slices", () => {
  it("delivers at most sliceSize events a turn, the rest on the turns after", async () => {
    const store = fakeStore();
    const hub = createWatchHub(store, 2);
    const got: FannedEvent[] = [];
    for (let i = 0; i < 5; i++) hub.add(watcher(got));
    store.emit({ type: "added", registration: record("rg_1") });
    expect(await deliveredPerTurn(got, 4)).toEqual([2, 4, 5, 5]);
  });

  it("schedules one flush for events arriving in the same turn", async () => {
    const store = fakeStore();
    const hub = createWatchHub(store, 1);
    const got: FannedEvent[] = [];
    hub.add(watcher(got));
    store.emit({ type: "added", registration: record("rg_1") });
    store.emit({ type: "added", registration: record("rg_2") });
    store.emit({ type: "added", registration: record("rg_3") });
    expect(await deliveredPerTurn(got, 4)).toEqual([1, 2, 3, 3]);
  });

  it("an event's binary message, asked for first, holds the event", async () => {
    const store = fakeStore();
    const hub = createWatchHub(store);
    const got: FannedEvent[] = [];
    hub.add(watcher(got));
    store.emit({ type: "added", registration: record("rg_1") });
    await turn();
    const binary = fromBinary(WatchResponseSchema, toBinary(WatchResponseSchema, got[0]!.message(true)));
    expect(binary.type).toBe(WatchEventType.ADDED);
    expect(binary.registrations.map((r) => r.registrationId)).toEqual(["rg_1"]);
    // The frame, asked for first too, carries the same message.
    store.emit({ type: "added", registration: record("rg_2") });
    await turn();
    const frame = got[1]!.frame();
    expect(fromBinary(WatchResponseSchema, frame.subarray(5)).registrations.map((r) => r.registrationId)).toEqual(["rg_2"]);
    expect(frame.readUInt32BE(1)).toBe(frame.byteLength - 5);
  });
});
