import { create } from "@bufbuild/protobuf";
import { RemovalReason, WatchEventType, WatchResponseSchema, type WatchResponse } from "../../gen/plugboard/v1/registry_pb.js";
import type { RemovalCause, Store, StoreEvent } from "../store/types.js";
import { toRegistration } from "./convert.js";
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
  message(binary: boolean): WatchResponse;
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

function fan(event: StoreEvent): FannedEvent {
  let json: WatchResponse | undefined;
  let binary: WatchResponse | undefined;
  const build = () =>
    create(WatchResponseSchema, {
      type: event.type === "added" ? WatchEventType.ADDED : event.type === "updated" ? WatchEventType.UPDATED : WatchEventType.REMOVED,
      registrations: [toRegistration(event.registration)],
      removalReason: event.type === "removed" ? REMOVAL[event.cause] : RemovalReason.UNSPECIFIED,
    });
  return {
    event,
    message: (wantsBinary) =>
      wantsBinary ? (binary ??= encodedOnce(WatchResponseSchema, (json ??= build()))) : (json ??= build()),
  };
}

/**
 * Fans registration events out to watch streams from one store subscription. Watchers are indexed
 * by service type (and by runtime, for the end of a watching runtime), so an event costs work only
 * for the streams that want it, and its message is built once for all of them.
 */
export function createWatchHub(store: Pick<Store, "subscribe">) {
  const byType = new Map<string, Set<HubWatcher>>();
  const everything = new Set<HubWatcher>();
  const byRuntime = new Map<string, Set<HubWatcher>>();
  let watchers = 0;
  let unsubscribe: (() => void) | undefined;

  const index = (map: Map<string, Set<HubWatcher>>, key: string, watcher: HubWatcher) => {
    let set = map.get(key);
    if (!set) map.set(key, (set = new Set()));
    set.add(watcher);
  };
  const unindex = (map: Map<string, Set<HubWatcher>>, key: string, watcher: HubWatcher) => {
    const set = map.get(key);
    if (set?.delete(watcher) && set.size === 0) map.delete(key);
  };

  const onEvent = (event: StoreEvent) => {
    const { registration } = event;
    if (event.type === "removed" && event.cause !== "unregistered") {
      const own = byRuntime.get(registration.runtimeId);
      if (own) for (const watcher of [...own]) watcher.runtimeEnded();
    }
    const typed = byType.get(registration.serviceType);
    if (!typed && everything.size === 0) return;
    const fanned = fan(event);
    if (typed) for (const watcher of typed) watcher.deliver(fanned);
    for (const watcher of everything) watcher.deliver(fanned);
  };

  return {
    /** Starts delivering to `watcher`; returns "stop". Events reach it from this call on. */
    add(watcher: HubWatcher): () => void {
      if (watcher.serviceTypes.length === 0) everything.add(watcher);
      for (const type of new Set(watcher.serviceTypes)) index(byType, type, watcher);
      if (watcher.runtimeId !== undefined) index(byRuntime, watcher.runtimeId, watcher);
      if (watchers++ === 0) unsubscribe = store.subscribe(onEvent);
      let removed = false;
      return () => {
        if (removed) return;
        removed = true;
        everything.delete(watcher);
        for (const type of new Set(watcher.serviceTypes)) unindex(byType, type, watcher);
        if (watcher.runtimeId !== undefined) unindex(byRuntime, watcher.runtimeId, watcher);
        if (--watchers === 0) {
          unsubscribe?.();
          unsubscribe = undefined;
        }
      };
    },
  };
}
