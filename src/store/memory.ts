import type {
  CredentialRecord,
  HealthValue,
  RegistrationRecord,
  RemovalCause,
  RuntimeRecord,
  Store,
  StoreEvent,
} from "./types.js";
import { createMemoryEnrolments } from "./memory-enrolments.js";
import { createSetIndex } from "./set-index.js";
import { createOrderedIndex } from "./ordered-index.js";
import { createLiveCount } from "./live-count.js";
import { copyCredential, copyRegistration, copyRuntime } from "./record-copies.js";

/** The embedded default: everything in this process, gone when it exits. */
export function createMemoryStore(): Store {
  const runtimes = new Map<string, RuntimeRecord>();
  const credentials = new Map<string, CredentialRecord>();
  const credentialIds = new Map<string, string>(); // public id → digest
  const registrations = new Map<string, RegistrationRecord>();
  const listeners = new Set<(event: StoreEvent) => void>();
  const enrolments = createMemoryEnrolments();
  // Secondary indexes, so admission limits count without scanning every record.
  const runtimesByName = createSetIndex();
  const registrationsByRuntime = createSetIndex();
  const registrationsByService = createSetIndex();
  // The same, in registrationId order: Discover pages in O(page).
  const serviceOrder = createOrderedIndex();
  const leases = new Map<string, number>(); // runtimeId → lease end (ms)
  const liveRuntimes = createLiveCount(); // every expiry change below reports to it
  const live = (runtimeId: string, now: number) => (runtimes.get(runtimeId)?.expiresAt ?? 0) > now;

  const unindexRegistration = (registration: RegistrationRecord) => {
    registrationsByRuntime.delete(registration.runtimeId, registration.registrationId);
    registrationsByService.delete(registration.serviceType, registration.registrationId);
    serviceOrder.delete(registration.serviceType, registration.registrationId);
  };
  const endedListeners = new Set<(runtimeId: string, cause: RemovalCause) => void>();

  const emit = (event: StoreEvent) => {
    for (const listener of listeners) listener(event);
  };

  const dropCredential = (digest: string) => {
    const record = credentials.get(digest);
    if (!record) return;
    credentials.delete(digest);
    // The id may since point at a newer digest (re-issued credential): leave that one findable.
    if (credentialIds.get(record.id) === digest) credentialIds.delete(record.id);
  };

  const removeRuntimeNow = (runtimeId: string, cause: RemovalCause): boolean => {
    const runtime = runtimes.get(runtimeId);
    if (!runtime) return false;
    runtimes.delete(runtimeId);
    liveRuntimes.changed(runtime.expiresAt, undefined, Date.now());
    leases.delete(runtimeId);
    runtimesByName.delete(runtime.pluginName, runtimeId);
    for (const [digest, record] of credentials) {
      if (record.runtimeId === runtimeId) dropCredential(digest);
    }
    for (const id of [...registrationsByRuntime.members(runtimeId)]) {
      const registration = registrations.get(id)!;
      registrations.delete(id);
      unindexRegistration(registration);
      emit({ type: "removed", registration: copyRegistration(registration), cause });
    }
    for (const listener of [...endedListeners]) listener(runtimeId, cause);
    return true;
  };

  return {
    async putRuntime(runtime) {
      const old = runtimes.get(runtime.runtimeId);
      if (old) runtimesByName.delete(old.pluginName, old.runtimeId);
      runtimes.set(runtime.runtimeId, copyRuntime(runtime));
      liveRuntimes.changed(old?.expiresAt, runtime.expiresAt, Date.now());
      runtimesByName.add(runtime.pluginName, runtime.runtimeId);
    },
    async getRuntime(runtimeId) {
      const runtime = runtimes.get(runtimeId);
      return runtime && runtime.expiresAt > Date.now() ? copyRuntime(runtime) : undefined;
    },
    async listRuntimes() {
      const now = Date.now();
      return [...runtimes.values()].filter((r) => r.expiresAt > now).map(copyRuntime);
    },
    async countRuntimes(pluginName) {
      const now = Date.now();
      if (pluginName === undefined) return liveRuntimes.count(now, () => [...runtimes.values()].map((r) => r.expiresAt));
      const ids = runtimesByName.members(pluginName);
      let count = 0;
      for (const id of ids) if (live(id, now)) count++;
      return count;
    },
    async setHealth(runtimeId, health: HealthValue, message, at) {
      const runtime = runtimes.get(runtimeId);
      if (!runtime) return;
      runtime.health = health;
      runtime.healthMessage = message;
      runtime.healthReportedAt = at;
      for (const id of registrationsByRuntime.members(runtimeId)) {
        const registration = registrations.get(id)!;
        if (registration.health === health) continue;
        registration.health = health;
        emit({ type: "updated", registration: copyRegistration(registration) });
      }
    },
    async setRuntimeExpiry(runtimeId, expiresAt) {
      const runtime = runtimes.get(runtimeId);
      if (!runtime) return;
      liveRuntimes.changed(runtime.expiresAt, expiresAt, Date.now());
      runtime.expiresAt = expiresAt;
    },
    async removeRuntime(runtimeId, cause) {
      return removeRuntimeNow(runtimeId, cause);
    },

    async putCredential(digest, record) {
      dropCredential(digest); // a digest re-put under a new id must not leave the old id findable
      credentials.set(digest, copyCredential(record));
      credentialIds.set(record.id, digest);
    },
    async getCredential(digest) {
      const record = credentials.get(digest);
      return record && record.expiresAt > Date.now() ? copyCredential(record) : undefined;
    },
    async findCredentialById(id) {
      const digest = credentialIds.get(id);
      const record = digest === undefined ? undefined : credentials.get(digest);
      if (digest === undefined || !record || record.expiresAt <= Date.now()) return undefined;
      return { digest, record: copyCredential(record) };
    },
    async deleteCredential(digest) {
      dropCredential(digest);
    },
    async rotateCredential(oldId, newDigest, record, now) {
      // No await in here: the check and both writes run as one step of the event loop.
      const oldDigest = credentialIds.get(oldId);
      const old = oldDigest === undefined ? undefined : credentials.get(oldDigest);
      const runtime = runtimes.get(record.runtimeId);
      if (oldDigest === undefined || !old || old.expiresAt <= now || old.runtimeId !== record.runtimeId || old.kind !== record.kind) return false;
      if (!runtime || runtime.expiresAt <= now) return false;
      dropCredential(oldDigest);
      dropCredential(newDigest);
      credentials.set(newDigest, copyCredential(record));
      credentialIds.set(record.id, newDigest);
      liveRuntimes.changed(runtime.expiresAt, record.expiresAt, Date.now());
      runtime.expiresAt = record.expiresAt;
      return true;
    },

    putEnrolment: enrolments.putEnrolment,
    getEnrolment: enrolments.getEnrolment,
    useEnrolment: enrolments.useEnrolment,
    revokeEnrolment: enrolments.revokeEnrolment,

    async putRegistration(registration) {
      const old = registrations.get(registration.registrationId);
      if (old) unindexRegistration(old);
      registrations.set(registration.registrationId, copyRegistration(registration));
      registrationsByRuntime.add(registration.runtimeId, registration.registrationId);
      registrationsByService.add(registration.serviceType, registration.registrationId);
      serviceOrder.add(registration.serviceType, registration.registrationId);
      const existed = old !== undefined;
      emit({ type: existed ? "updated" : "added", registration: copyRegistration(registration) });
    },
    async getRegistration(registrationId) {
      const registration = registrations.get(registrationId);
      return registration && copyRegistration(registration);
    },
    async removeRegistration(registrationId, cause) {
      const registration = registrations.get(registrationId);
      if (!registration) return undefined;
      registrations.delete(registrationId);
      unindexRegistration(registration);
      emit({ type: "removed", registration: copyRegistration(registration), cause });
      return copyRegistration(registration);
    },
    async listRegistrations(serviceType) {
      const all = [...registrations.values()];
      return (serviceType === undefined ? all : all.filter((r) => r.serviceType === serviceType)).map(copyRegistration);
    },
    async pageRegistrations(serviceType, afterId, limit) {
      return serviceOrder.after(serviceType, afterId, limit).map((id) => copyRegistration(registrations.get(id)!));
    },
    async registrationsAt(serviceType, offset, limit) {
      return serviceOrder.at(serviceType, offset, limit).map((id) => copyRegistration(registrations.get(id)!));
    },
    async listRuntimeRegistrations(runtimeId) {
      return [...registrationsByRuntime.members(runtimeId)].map((id) => copyRegistration(registrations.get(id)!));
    },
    async countRegistrations(of) {
      return ("runtimeId" in of ? registrationsByRuntime.members(of.runtimeId) : registrationsByService.members(of.serviceType)).size;
    },

    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onRuntimeEnded(listener) {
      endedListeners.add(listener);
      return () => endedListeners.delete(listener);
    },
    async renewLease(runtimeId, until) {
      if (runtimes.has(runtimeId)) leases.set(runtimeId, until);
    },
    async sweepLeases(now) {
      let ended = 0;
      for (const [runtimeId, until] of [...leases]) {
        if (until > now) continue;
        leases.delete(runtimeId);
        ended++;
        for (const id of [...registrationsByRuntime.members(runtimeId)]) {
          const registration = registrations.get(id)!;
          registrations.delete(id);
          unindexRegistration(registration);
          emit({ type: "removed", registration: copyRegistration(registration), cause: "lease_expired" });
        }
      }
      return ended;
    },
    async sweep(now) {
      let ended = 0;
      enrolments.sweep(now);
      for (const [digest, record] of credentials) {
        if (record.expiresAt <= now) dropCredential(digest);
      }
      for (const runtime of [...runtimes.values()]) {
        if (runtime.expiresAt <= now && removeRuntimeNow(runtime.runtimeId, "expired")) ended++;
      }
      return ended;
    },
    async ping() {
      return true;
    },
    async close() {
      listeners.clear();
      endedListeners.clear();
    },
  };
}
