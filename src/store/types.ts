/**
 * The host's state behind one narrow, async interface, so the in-memory store
 * (the embedded default) and a shared Redis store are interchangeable.
 * Token values never reach the store: only their SHA-256 digests (hex).
 */

import type { NameProofMethod } from "../identity/name-proof.js";

export interface ServiceDecl {
  type: string;
  version: string;
}

export interface ServiceNeed {
  type: string;
  versionRange: string;
  optional: boolean;
}

export interface SecretNeed {
  name: string;
  version: string;
  optional: boolean;
}

/** 0 unspecified, 1 healthy, 2 degraded, 3 unhealthy (plugboard.v1.HealthState). */
export type HealthValue = 0 | 1 | 2 | 3;

export interface RuntimeRecord {
  runtimeId: string;
  pluginName: string;
  pluginVersion: string;
  provides: ServiceDecl[];
  requires: ServiceNeed[];
  capabilities: string[];
  secrets: SecretNeed[];
  /** Where the plugin serves; registrations must lie inside it. Empty for consume-only plugins. */
  baseUrl: string;
  appProtocolVersion: string;
  /** base64 HMAC key for the caller header on calls routed to this runtime. */
  callerSigningKey: string;
  /** How pluginName was proven at handshake (read it through identity/name-proof `provenName`). */
  nameProof?: NameProofMethod;
  /** Identity of the certificate/JWT the runtime handshook with, when any: RBAC judges it. */
  boundSubject?: string;
  /** `mtls`: the certificate must be presented again with every token; `jwt`: the runtime token suffices. */
  boundMethod?: "mtls" | "jwt";
  health: HealthValue;
  healthMessage: string;
  /** ms since epoch */
  healthReportedAt: number;
  startedAt: number;
  /** The runtime ends when its current token expires unrefreshed. */
  expiresAt: number;
}

export interface CredentialRecord {
  kind: "runtime" | "grant";
  /** Public id: a token id for runtime tokens, the grant ID for grants. */
  id: string;
  runtimeId: string;
  /** ms since epoch */
  expiresAt: number;
  /** For grants: the capability service type. */
  capability?: string;
}

/** A name-bound bootstrap credential (src/enrolment): the token itself is never stored, only its digest. */
export interface EnrolmentRecord {
  /** Public id, for revocation and listings; never the token. */
  id: string;
  /** The one plugin name the token proves. */
  pluginName: string;
  /** ms since epoch */
  expiresAt: number;
  /** Handshakes the token may still admit. */
  usesLeft: number;
}

export interface RegistrationRecord {
  registrationId: string;
  serviceType: string;
  version: string;
  runtimeId: string;
  pluginName: string;
  endpoint: string;
  metadata: Record<string, string>;
  weight: number;
  health: HealthValue;
  /** Protocol enum values the provider serves; absent or empty means gRPC only. */
  protocols?: number[];
}

export type RemovalCause = "unregistered" | "revoked" | "expired" | "lease_expired";

export type StoreEvent =
  | { type: "added" | "updated"; registration: RegistrationRecord }
  | { type: "removed"; registration: RegistrationRecord; cause: RemovalCause };

export interface Store {
  putRuntime(runtime: RuntimeRecord): Promise<void>;
  getRuntime(runtimeId: string): Promise<RuntimeRecord | undefined>;
  listRuntimes(): Promise<RuntimeRecord[]>;
  /** Live runtimes, in total or of one plugin name. Cheap (an index's size), for admission limits. */
  countRuntimes(pluginName?: string): Promise<number>;
  /** Updates health on the runtime and its registrations (emits `updated`). */
  setHealth(runtimeId: string, health: HealthValue, message: string, at: number): Promise<void>;
  /** Extends a runtime's life (token refresh). */
  setRuntimeExpiry(runtimeId: string, expiresAt: number): Promise<void>;
  /**
   * Removes a runtime with everything it owns: credentials, grants, registrations
   * (emitting `removed` with `cause`). Returns false if it did not exist.
   */
  removeRuntime(runtimeId: string, cause: RemovalCause): Promise<boolean>;

  /** `digest` is the hex SHA-256 of the token. Expired records are never returned. */
  putCredential(digest: string, record: CredentialRecord): Promise<void>;
  getCredential(digest: string): Promise<CredentialRecord | undefined>;
  /** Finds a credential by its public id (grant ID). */
  findCredentialById(id: string): Promise<{ digest: string; record: CredentialRecord } | undefined>;
  deleteCredential(digest: string): Promise<void>;
  /**
   * Token refresh as one atomic step: if the credential with public id `oldId` is live at `now` and
   * belongs to `record.runtimeId`, whose runtime is live, it is deleted, `record` is stored under
   * `newDigest` and the runtime's expiry becomes `record.expiresAt`. Of concurrent calls for one
   * `oldId` (on any host sharing the store) at most one returns true; the others change nothing.
   */
  rotateCredential(oldId: string, newDigest: string, record: CredentialRecord, now: number): Promise<boolean>;

  /** `digest` is the hex SHA-256 of an enrolment token. */
  putEnrolment(digest: string, record: EnrolmentRecord): Promise<void>;
  /** The live record (unexpired, uses left) without using it; undefined otherwise. */
  getEnrolment(digest: string): Promise<EnrolmentRecord | undefined>;
  /** Atomically takes one use of a live record: true when one was left (the last use deletes it). */
  useEnrolment(digest: string): Promise<boolean>;
  /** Deletes by public id; false when unknown or already gone. */
  revokeEnrolment(id: string): Promise<boolean>;

  /** Adds or replaces (same registrationId) a registration; emits `added` or `updated`. */
  putRegistration(registration: RegistrationRecord): Promise<void>;
  getRegistration(registrationId: string): Promise<RegistrationRecord | undefined>;
  removeRegistration(registrationId: string, cause: RemovalCause): Promise<RegistrationRecord | undefined>;
  listRegistrations(serviceType?: string): Promise<RegistrationRecord[]>;
  /**
   * Registrations of one service type in ascending registrationId order (code units): those after
   * `afterId` (exclusive; undefined: from the first), at most `limit`. Reads only those (plus an
   * ordered index's log n), never the whole service type: Discover's pages.
   */
  pageRegistrations(serviceType: string, afterId: string | undefined, limit: number): Promise<RegistrationRecord[]>;
  /** Registrations of one service type at ranks [offset, offset + limit) of that same order (a strategy's pick). */
  registrationsAt(serviceType: string, offset: number, limit: number): Promise<RegistrationRecord[]>;
  /** One runtime's registrations (a few; reads only those). */
  listRuntimeRegistrations(runtimeId: string): Promise<RegistrationRecord[]>;
  /** Registrations of one runtime or of one service type. Cheap (an index's size), for admission limits. */
  countRegistrations(of: { runtimeId: string } | { serviceType: string }): Promise<number>;

  /** Registration changes, from this host and (for shared stores) every other. */
  subscribe(listener: (event: StoreEvent) => void): () => void;
  /**
   * Runtimes removed (revoked, swept after expiry), by this host and (for shared stores) every other,
   * so whatever a runtime holds open (streams) can end with it. Expiry itself is no event: compare
   * `expiresAt` with the clock.
   */
  onRuntimeEnded(listener: (runtimeId: string, cause: RemovalCause) => void): () => void;
  /**
   * Registrations are leases: renews the lease of every registration `runtimeId` holds (now and
   * later) until `until` (ms since epoch). Shared by every host on the store.
   */
  renewLease(runtimeId: string, until: number): Promise<void>;
  /**
   * Removes the registrations of runtimes whose lease ran out by `now` (emitting `removed` with
   * cause `lease_expired`, once across hosts); the runtimes stay. Returns how many leases ended.
   */
  sweepLeases(now: number): Promise<number>;
  /** Removes runtimes and credentials whose expiry passed; returns how many runtimes ended. */
  sweep(now: number): Promise<number>;
  /** True when the backing store answers (readiness). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
