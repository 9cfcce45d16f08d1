import { TOKEN_PREFIX } from "../protocol/constants.js";
import type { Store } from "../store/types.js";
import { tokenDigest } from "../tokens/tokens.js";
import type { Identity } from "./identity.js";

/** Entries kept; a full cache starts afresh. */
const MAX_ENTRIES = 10_000;
/**
 * Safety net: an entry older than this is authenticated in full again, even though no event
 * invalidated it. Every change that ends or alters a runtime token's identity invalidates at once.
 */
const MAX_AGE_MS = 1_000;

const BEARER_RUNTIME = `Bearer ${TOKEN_PREFIX.runtime}`;

interface Entry {
  identity: Identity;
  /** The credential's and the runtime's expiry, whichever comes first (wall clock, as the store judges). */
  validUntil: number;
  credentialId: string;
  learnedAt: number;
}

export interface TokenIdentityCache {
  /**
   * The identity a runtime token's `authorization` header proved, while it still holds; else
   * undefined. `connection` (the caller's HTTP/2 session) lets the header's digest be taken once
   * per connection: a client sends the same header on every call (HPACK keeps it there anyway).
   */
  get(authorization: string, connection?: object): Identity | undefined;
  /** After a full authentication of `authorization` proved `identity`: remember it (plain runtime tokens only). */
  learn(authorization: string, identity: Identity): Promise<void>;
  /** A store that tells the cache of every write that ends or changes a credential or a runtime. */
  readonly store: Store;
  close(): void;
}

/**
 * Runtime token → identity, for routed calls: a hit answers without a store read or an await.
 * Only for a store that lives in this host's memory and is written through `cache.store`, so that
 * every change is seen at once: a runtime's end (revoke, sweep, any removal) through the store's
 * event, a credential's rotation or deletion and a runtime record's change through the write itself.
 * Expiry (the credential's and the runtime's) is judged by the clock on every hit. Keyed by the
 * SHA-256 of the header: no token is kept. Tokens bound to a certificate are never cached (the
 * certificate must be presented on each call), nor are identities whose roles come from a callback.
 */
export function createTokenIdentityCache(options: { store: Store; now: () => number }): TokenIdentityCache {
  const { now } = options;
  const entries = new Map<string, Entry>();
  const byRuntime = new Map<string, Set<string>>();
  /** Bumped by every invalidation: a lookup that raced one does not keep its answer. */
  let generation = 0;

  const drop = (key: string) => {
    const entry = entries.get(key);
    if (!entry) return;
    entries.delete(key);
    const keys = byRuntime.get(entry.identity.runtimeId!);
    keys?.delete(key);
    if (keys?.size === 0) byRuntime.delete(entry.identity.runtimeId!);
  };
  const forgetRuntime = (runtimeId: string) => {
    generation++;
    for (const key of byRuntime.get(runtimeId) ?? []) entries.delete(key);
    byRuntime.delete(runtimeId);
  };
  const forgetCredential = (id: string) => {
    generation++;
    for (const [key, entry] of entries) if (entry.credentialId === id) drop(key);
  };
  const forgetAll = () => {
    generation++;
    entries.clear();
    byRuntime.clear();
  };
  /** The last authorization header of each connection and its digest. */
  const lastDigest = new WeakMap<object, { authorization: string; digest: string }>();
  const digestOn = (connection: object, authorization: string): string => {
    const last = lastDigest.get(connection);
    if (last !== undefined && last.authorization === authorization) return last.digest;
    const digest = tokenDigest(authorization);
    lastDigest.set(connection, { authorization, digest });
    return digest;
  };
  const stopEnded = options.store.onRuntimeEnded((runtimeId) => forgetRuntime(runtimeId));

  /** Runs a write, forgetting what it changes before (a racing lookup keeps nothing) and after. */
  const writing = async <T>(forget: () => void, write: () => Promise<T>): Promise<T> => {
    forget();
    try {
      return await write();
    } finally {
      forget();
    }
  };
  const inner = options.store;
  const store: Store = {
    ...inner,
    putRuntime: (runtime) => writing(() => forgetRuntime(runtime.runtimeId), () => inner.putRuntime(runtime)),
    setRuntimeExpiry: (runtimeId, expiresAt) => writing(() => forgetRuntime(runtimeId), () => inner.setRuntimeExpiry(runtimeId, expiresAt)),
    removeRuntime: (runtimeId, cause) => writing(() => forgetRuntime(runtimeId), () => inner.removeRuntime(runtimeId, cause)),
    // A digest is not mapped back to its entry: credential writes are rare (handshake, refresh, revoke).
    putCredential: (digest, record) => writing(forgetAll, () => inner.putCredential(digest, record)),
    deleteCredential: (digest) => writing(forgetAll, () => inner.deleteCredential(digest)),
    rotateCredential: (oldId, newDigest, record, at) =>
      writing(() => (forgetCredential(oldId), forgetRuntime(record.runtimeId)), () => inner.rotateCredential(oldId, newDigest, record, at)),
    sweep: (at) => writing(forgetAll, () => inner.sweep(at)),
  };

  return {
    store,
    get(authorization, connection) {
      if (entries.size === 0 || !authorization.startsWith(BEARER_RUNTIME)) return undefined;
      const key = connection === undefined ? tokenDigest(authorization) : digestOn(connection, authorization);
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      if (now() >= entry.validUntil || performance.now() - entry.learnedAt > MAX_AGE_MS) {
        drop(key);
        return undefined;
      }
      return entry.identity;
    },
    async learn(authorization, identity) {
      if (identity.kind !== "runtime" || identity.runtimeId === undefined || identity.credentialId === undefined) return;
      if (identity.expiresAt !== undefined || (identity.boundSubject !== undefined && identity.boundMethod !== "jwt")) return;
      if (!authorization.startsWith(BEARER_RUNTIME)) return;
      const token = authorization.slice("Bearer ".length);
      const seen = generation;
      // The identity was just proven in full; what is read here is only when it stops holding.
      const record = await inner.getCredential(tokenDigest(token));
      const runtime = record && (await inner.getRuntime(record.runtimeId));
      if (seen !== generation || !record || !runtime || record.kind !== "runtime" || record.id !== identity.credentialId || runtime.runtimeId !== identity.runtimeId) return;
      if (entries.size >= MAX_ENTRIES) forgetAll();
      const key = tokenDigest(authorization);
      entries.set(key, { identity, validUntil: Math.min(record.expiresAt, runtime.expiresAt), credentialId: record.id, learnedAt: performance.now() });
      let keys = byRuntime.get(identity.runtimeId);
      if (!keys) byRuntime.set(identity.runtimeId, (keys = new Set()));
      keys.add(key);
    },
    close() {
      stopEnded();
      forgetAll();
    },
  };
}
