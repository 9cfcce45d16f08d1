import { create, toBinary } from "@bufbuild/protobuf";
import { RemovalReason, WatchEventType, WatchResponseSchema, type WatchResponse } from "../../gen/plugboard/v1/registry_pb.js";
import type { RemovalCause, Store, StoreEvent } from "../store/types.js";
import { toRegistration } from "./convert.js";
import { dataFrame } from "./direct-frames.js";
import { encodedOnce } from "./encoded-once.js";

const REMOVAL: Record<RemovalCause, RemovalReason> = {
  unregistered: RemovalReason.UNREGISTERED,
  revoked: RemovalReason.RUNTIME_REVOKED,
  expired: RemovalReason.RUNTIME_EXPIRED,
  lease_expired: RemovalReason.LEASE_EXPIRED,
};

/** One store event as every watcher gets it: its message built at most once, and binary-encoded at most once. */
export interface FannedEvent {
  readonly event: StoreEvent;
  /** The event's place in the hub's order (see WatchHub.position). */
  readonly seq: number;
  message(binary: boolean): WatchResponse;
  /** The message binary-encoded and framed (see dataFrame), once for every stream written to directly. */
  frame(): Buffer;
}

export interface HubWatcher {
  /** Service types watched; empty means all. */
  readonly serviceTypes: readonly string[];
  /** The watching runtime, if the caller is one. */
  readonly runtimeId: string | undefined;
  deliver(event: FannedEvent): void;
  /** One of the watching runtime's registrations was removed because the runtime ended (not unregistered). */
  runtimeEnded(): void;
}

export interface WatchHub {
  /** Starts delivering to `watcher`; returns "stop". Events that happen from this call on reach it, in order. */
  add(watcher: HubWatcher): () => void;
  /** The seq the next event will get: every event with a smaller seq has already happened in the store. */
  position(): number;
}

function fan(event: StoreEvent, seq: number): FannedEvent {
  let json: WatchResponse | undefined;
  let binary: WatchResponse | undefined;
  let frame: Buffer | undefined;
  const build = () =>
    create(WatchResponseSchema, {
      type: event.type === "added" ? WatchEventType.ADDED : event.type === "updated" ? WatchEventType.UPDATED : WatchEventType.REMOVED,
      registrations: [toRegistration(event.registration)],
      removalReason: event.type === "removed" ? REMOVAL[event.cause] : RemovalReason.UNSPECIFIED,
    });
  return {
    event,
    seq,
    message: (wantsBinary) =>
      wantsBinary ? (binary ??= encodedOnce(WatchResponseSchema, (json ??= build()))) : (json ??= build()),
    frame: () => (frame ??= dataFrame(toBinary(WatchResponseSchema, (json ??= build())))),
  };
}

/** A watcher as indexed: `from` is the first seq it may get (events older than its add are not its). */
interface Entry {
  readonly watcher: HubWatcher;
  readonly from: number;
}

/** An event being fanned out, and the watchers it has yet to reach. */
interface Delivery {
  readonly fanned: FannedEvent;
  readonly targets: Iterator<Entry>;
}

/**
 * Watchers woken per turn of the event loop. Each wake runs that stream's whole send pipeline in
 * the microtasks that follow, so a slice is a bounded amount of work between two looks at I/O.
 */
export const WATCH_FANOUT_SLICE = 32;

/**
 * Fans registration events out to watch streams from one store subscription. Watchers are indexed
 * by service type (and by runtime, for the end of a watching runtime), so an event costs work only
 * for the streams that want it, and its message is built once for all of them.
 *
 * The fan-out runs on later turns of the event loop (setImmediate), never inside the store's emit,
 * and a slice of watchers per turn: the store emits inside the write that caused the event (a
 * Register's putRegistration), and waking a thousand streams there, or in one turn, would put all
 * their delivery work ahead of the write's caller and of its response's I/O, so a Register's latency
 * would grow with the number of watchers. Deferred events keep their order (one FIFO for the whole
 * hub) and none is lost: a watcher added meanwhile only skips events older than itself.
 */
export function createWatchHub(store: Pick<Store, "subscribe">, sliceSize = WATCH_FANOUT_SLICE): WatchHub {
  const byType = new Map<string, Set<Entry>>();
  const everything = new Set<Entry>();
  const byRuntime = new Map<string, Set<Entry>>();
  let watchers = 0;
  let unsubscribe: (() => void) | undefined;
  let nextSeq = 0;
  const pending: { event: StoreEvent; seq: number }[] = [];
  let scheduled = false;

  const index = (map: Map<string, Set<Entry>>, key: string, entry: Entry) => {
    let set = map.get(key);
    if (!set) map.set(key, (set = new Set()));
    set.add(entry);
  };
  const unindex = (map: Map<string, Set<Entry>>, key: string, entry: Entry) => {
    const set = map.get(key);
    if (set?.delete(entry) && set.size === 0) map.delete(key);
  };

  /** Tells the runtime's own watchers it ended; returns whom the event goes to, or undefined for nobody. */
  const begin = (event: StoreEvent, seq: number): Delivery | undefined => {
    const { registration } = event;
    if (event.type === "removed" && event.cause !== "unregistered") {
      const own = byRuntime.get(registration.runtimeId);
      if (own) for (const entry of [...own]) if (seq >= entry.from) entry.watcher.runtimeEnded();
    }
    const typed = byType.get(registration.serviceType);
    if (!typed && everything.size === 0) return undefined;
    return { fanned: fan(event, seq), targets: targetsOf(typed) };
  };
  // Live Set iterators: a watcher removed mid-fan-out is skipped; one added is too (its `from` is later).
  function* targetsOf(typed: Set<Entry> | undefined): Iterator<Entry> {
    if (typed) yield* typed;
    yield* everything;
  }

  let current: Delivery | undefined;
  const flush = () => {
    scheduled = false;
    for (let budget = sliceSize; budget > 0; ) {
      if (!current) {
        const next = pending.shift();
        if (!next) return;
        current = begin(next.event, next.seq);
        continue;
      }
      const target = current.targets.next();
      if (target.done) current = undefined;
      else if (target.value.from <= current.fanned.seq) {
        target.value.watcher.deliver(current.fanned);
        budget--;
      }
    }
    schedule(); // the rest on the next turn, after I/O (a Register's response) has had its own
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  };

  const onEvent = (event: StoreEvent) => {
    pending.push({ event, seq: nextSeq++ });
    schedule();
  };

  return {
    position: () => nextSeq,
    add(watcher) {
      const entry: Entry = { watcher, from: nextSeq };
      const types = new Set(watcher.serviceTypes);
      if (types.size === 0) everything.add(entry);
      for (const type of types) index(byType, type, entry);
      if (watcher.runtimeId !== undefined) index(byRuntime, watcher.runtimeId, entry);
      if (watchers++ === 0) unsubscribe = store.subscribe(onEvent);
      let removed = false;
      return () => {
        if (removed) return;
        removed = true;
        everything.delete(entry);
        for (const type of types) unindex(byType, type, entry);
        if (watcher.runtimeId !== undefined) unindex(byRuntime, watcher.runtimeId, entry);
        if (--watchers === 0) {
          unsubscribe?.();
          unsubscribe = undefined;
        }
      };
    },
  };
}
