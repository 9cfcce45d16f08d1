import { copyCredential, copyRegistration, copyRuntime } from "./record-copies.js";
import type { StoreFeed } from "./store-feed.js";
import type { CredentialRecord, RegistrationRecord, RuntimeRecord, Store } from "./types.js";

export interface CachedReadsOptions {
  /** Entries per kind (credentials, runtimes, service lists); a full cache starts afresh. Default 10 000. */
  maxEntries?: number;
  /**
   * An entry older than this is read again even though no event invalidated it: a safety net for a
   * change that produced no event (a host of an older version). Default 10 s.
   */
  maxAgeMs?: number;
  /** Monotonic clock for entry ages (ms). */
  monotonicNow?: () => number;
  /** Wall clock that judges expiry, as the store does (ms since epoch). */
  now?: () => number;
}

interface CredentialEndedSource {
  onCredentialEnded(listener: (digest: string, runtimeId: string) => void): () => void;
}

interface Entry<T> {
  value: T;
  at: number;
}

/**
 * A read-through cache in front of a shared store for what every routed call reads: the credential
 * behind a token digest, the caller's runtime record, the registrations of a service. Without it a
 * call costs a round trip per read; with it, none in steady state.
 *
 * It stays true by the store's change feed: registration events drop a service's list, runtime-ended
 * drops the runtime and its credentials, `credential-ended` / `runtime-updated` (feed invalidations)
 * drop those records, and a feed that breaks or lags (Redis outage, reconnect, stream trimmed, reset,
 * new primary) drops everything; while the feed is not healthy every read goes to the store. A read
 * that raced an invalidation is returned but not kept. Expiry is judged on every read with the clock
 * (records carry expiresAt); an expired runtime is read again (another host may have refreshed it).
 * Absent records are never cached: a token issued elsewhere verifies at once.
 */
export function createCachedReads<S extends Store>(store: S, feed: StoreFeed, options: CachedReadsOptions = {}): S {
  const maxEntries = options.maxEntries ?? 10_000;
  const maxAgeMs = options.maxAgeMs ?? 10_000;
  if (!Number.isInteger(maxEntries) || maxEntries <= 0) throw new TypeError("readCache.maxEntries must be a positive integer");
  if (!Number.isFinite(maxAgeMs) || maxAgeMs <= 0) throw new TypeError("readCache.maxAgeMs must be a positive number");
  const monotonic = options.monotonicNow ?? (() => performance.now());
  const now = options.now ?? Date.now;

  const credentials = new Map<string, Entry<CredentialRecord>>();
  /** Runtime → digests: how a runtime's end finds its credential entries. */
  const digestsOfRuntime = new Map<string, Set<string>>();
  const runtimes = new Map<string, Entry<RuntimeRecord>>();
  const services = new Map<string, Entry<RegistrationRecord[]>>();
  /** Bumped by every invalidation: a read that started before one does not keep its answer. */
  let generation = 0;

  const clear = () => {
    generation++;
    credentials.clear();
    digestsOfRuntime.clear();
    runtimes.clear();
    services.clear();
  };
  const dropCredential = (digest: string) => {
    const entry = credentials.get(digest);
    if (!entry) return;
    credentials.delete(digest);
    digestsOfRuntime.get(entry.value.runtimeId)?.delete(digest);
  };
  const forgetCredential = (digest: string) => {
    generation++;
    dropCredential(digest);
  };
  const dropRuntime = (runtimeId: string, withCredentials: boolean) => {
    generation++;
    runtimes.delete(runtimeId);
    if (!withCredentials) return;
    for (const digest of digestsOfRuntime.get(runtimeId) ?? []) dropCredential(digest);
    digestsOfRuntime.delete(runtimeId);
  };
  /** Drops the service's list, and any other holding the registration (its type may have changed). */
  const dropService = (serviceType: string, registrationId?: string) => {
    generation++;
    services.delete(serviceType);
    if (registrationId === undefined) return;
    for (const [type, entry] of services) if (entry.value.some((r) => r.registrationId === registrationId)) services.delete(type);
  };

  const stopFeed = feed.onChange((change) => {
    if (change.kind === "broken") clear();
    else if (change.kind === "credential") forgetCredential(change.digest);
    else dropRuntime(change.runtimeId, false);
  });
  const stopEvents = store.subscribe((event) => dropService(event.registration.serviceType, event.registration.registrationId));
  const stopEnded = store.onRuntimeEnded((runtimeId) => dropRuntime(runtimeId, true));
  // A store that announces ended credentials itself (per-slot streams) is heard too.
  const stopCredentials = (store as Partial<CredentialEndedSource>).onCredentialEnded?.((digest) => forgetCredential(digest));

  /** A live entry, or undefined when absent, too old, or the feed cannot be trusted (then everything goes). */
  const fresh = <T>(map: Map<string, Entry<T>>, key: string): T | undefined => {
    if (map.size === 0) return undefined;
    if (!feed.healthy()) {
      clear();
      return undefined;
    }
    const entry = map.get(key);
    if (!entry) return undefined;
    if (monotonic() - entry.at > maxAgeMs) {
      map.delete(key);
      return undefined;
    }
    return entry.value;
  };
  /** Keeps what a read found unless an invalidation came in while it ran or the feed is not trusted. */
  const keep = <T>(map: Map<string, Entry<T>>, key: string, value: T, startedAt: number): boolean => {
    if (startedAt !== generation || !feed.healthy()) return false;
    if (map.size >= maxEntries) map.clear();
    map.set(key, { value, at: monotonic() });
    return true;
  };

  /** A credential entry goes in with its runtime index entry, so a runtime's end always finds it. */
  const keepCredential = (digest: string, record: CredentialRecord, startedAt: number) => {
    if (startedAt !== generation || !feed.healthy()) return;
    if (credentials.size >= maxEntries) {
      credentials.clear();
      digestsOfRuntime.clear();
    }
    credentials.set(digest, { value: copyCredential(record), at: monotonic() });
    let digests = digestsOfRuntime.get(record.runtimeId);
    if (!digests) digestsOfRuntime.set(record.runtimeId, (digests = new Set()));
    digests.add(digest);
  };

  /** Runs a write and forgets what it changes, before (reads racing it keep nothing) and after. */
  const writing = async <T>(forget: () => void, write: () => Promise<T>): Promise<T> => {
    forget();
    try {
      return await write();
    } finally {
      forget();
    }
  };

  return {
    ...store,

    async getCredential(digest) {
      const cached = fresh(credentials, digest);
      if (cached && cached.expiresAt > now()) return copyCredential(cached);
      if (cached) dropCredential(digest);
      const startedAt = generation;
      const record = await store.getCredential(digest);
      if (record) keepCredential(digest, record, startedAt);
      return record;
    },
    async getRuntime(runtimeId) {
      const cached = fresh(runtimes, runtimeId);
      if (cached && cached.expiresAt > now()) return copyRuntime(cached);
      const startedAt = generation;
      const runtime = await store.getRuntime(runtimeId);
      if (runtime) keep(runtimes, runtimeId, copyRuntime(runtime), startedAt);
      else if (cached) runtimes.delete(runtimeId);
      return runtime;
    },
    async listRegistrations(serviceType) {
      if (serviceType === undefined) return store.listRegistrations(); // listings for operators: not the hot path
      const cached = fresh(services, serviceType);
      if (cached) return cached.map(copyRegistration);
      const startedAt = generation;
      const list = await store.listRegistrations(serviceType);
      keep(services, serviceType, list.map(copyRegistration), startedAt);
      return list;
    },

    putRuntime: (runtime) => writing(() => dropRuntime(runtime.runtimeId, false), () => store.putRuntime(runtime)),
    setHealth: (runtimeId, health, message, at) =>
      writing(() => dropRuntime(runtimeId, false), () => store.setHealth(runtimeId, health, message, at)),
    setRuntimeExpiry: (runtimeId, expiresAt) => writing(() => dropRuntime(runtimeId, false), () => store.setRuntimeExpiry(runtimeId, expiresAt)),
    removeRuntime: (runtimeId, cause) => writing(() => dropRuntime(runtimeId, true), () => store.removeRuntime(runtimeId, cause)),
    putCredential: (digest, record) => writing(() => forgetCredential(digest), () => store.putCredential(digest, record)),
    deleteCredential: (digest) => writing(() => forgetCredential(digest), () => store.deleteCredential(digest)),
    rotateCredential: (oldId, newDigest, record, at) =>
      writing(
        () => {
          // The old token's digest is not known here: forget the runtime's credentials (re-read at once).
          dropRuntime(record.runtimeId, true);
        },
        () => store.rotateCredential(oldId, newDigest, record, at),
      ),
    putRegistration: (registration) =>
      writing(() => dropService(registration.serviceType, registration.registrationId), () => store.putRegistration(registration)),
    removeRegistration: (registrationId, cause) =>
      writing(
        () => {
          generation++;
          services.clear(); // its service is not known here; the event names it too
        },
        () => store.removeRegistration(registrationId, cause),
      ),
    async close() {
      stopFeed();
      stopEvents();
      stopEnded();
      stopCredentials?.();
      clear();
      await store.close();
    },
  };
}
