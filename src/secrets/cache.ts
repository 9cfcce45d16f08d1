import type { Logger } from "../log/index.js";
import { SecretError, asSecretError, isTransient } from "./errors.js";
import { resolveMany } from "./many.js";
import type { GetSecretOptions, SecretProvider, SecretValue } from "./types.js";

export interface SecretCacheOptions {
  /** How long a value is served before the backend is asked again (default 5 min): rotation shows within it. */
  ttlMs?: number;
  /** Entries kept; the least recently used go first (default 1024, as the AWS SM cache). */
  maxEntries?: number;
  /** After the TTL, how long a value may still be served while the backend is down (default 15 min). */
  staleWindowMs?: number;
  /** After a failure, the key is not retried for this long (default 2 s). */
  errorBackoffMs?: number;
  /** Clock, for tests. */
  now?: () => number;
  logger?: Logger;
}

export interface SecretCacheStats {
  hits: number;
  misses: number;
  /** hits / (hits + misses), 0 when nothing was asked. */
  hitRate: number;
  /** Backend failures (each one backend call). */
  errors: number;
  /** Values served past their TTL because the backend failed. */
  staleServed: number;
  evictions: number;
  size: number;
}

export interface SecretCache extends SecretProvider {
  /** Drops one name (every version of it) or, without a name, everything. */
  invalidate(name?: string): void;
  invalidateAll(): void;
  stats(): SecretCacheStats;
}

interface Entry {
  secret?: SecretValue;
  /** When the value stops being fresh. */
  expiresAt: number;
  /** Last failure and until when the key is left alone. */
  error?: SecretError;
  retryAt: number;
}

const copy = (secret: SecretValue): SecretValue => ({ ...secret, value: secret.value.slice() });

/**
 * A caching provider: TTL + LRU, one backend call per key at a time
 * (single-flight), error backoff, and stale-while-error for transient failures
 * only: an authoritative NotFound or PermissionDenied drops the value at once.
 */
export function createSecretCache(provider: SecretProvider, options: SecretCacheOptions = {}): SecretCache {
  const ttlMs = options.ttlMs ?? 5 * 60_000;
  const maxEntries = options.maxEntries ?? 1024;
  const staleWindowMs = options.staleWindowMs ?? 15 * 60_000;
  const errorBackoffMs = options.errorBackoffMs ?? 2_000;
  for (const [key, value] of Object.entries({ ttlMs, maxEntries, staleWindowMs, errorBackoffMs })) {
    if (!Number.isFinite(value) || value < 0) throw new TypeError(`secret cache ${key} must be a non-negative number`);
  }
  if (maxEntries < 1) throw new TypeError("secret cache maxEntries must be at least 1");
  const now = options.now ?? Date.now;
  const log = options.logger;

  const entries = new Map<string, Entry>(); // insertion order = recency
  const inFlight = new Map<string, Promise<SecretValue>>();
  const counters = { hits: 0, misses: 0, errors: 0, staleServed: 0, evictions: 0 };
  let generation = 0; // bumps on invalidateAll so late fetches do not refill

  // NUL cannot occur in names (rejected as control characters), so the key is unambiguous.
  const keyOf = (name: string, version: string) => `${name}\u0000${version}`;

  const remember = (key: string, entry: Entry) => {
    entries.delete(key);
    entries.set(key, entry);
    while (entries.size > maxEntries) {
      const oldest = entries.keys().next().value as string;
      entries.delete(oldest);
      counters.evictions++;
    }
  };

  const staleOrThrow = (name: string, entry: Entry | undefined, error: SecretError): SecretValue => {
    const t = now();
    if (entry?.secret && isTransient(error) && t < entry.expiresAt + staleWindowMs) {
      counters.staleServed++;
      log?.warn({ secretName: name, code: error.code, staleForMs: t - entry.expiresAt }, "secret backend failing; serving cached value");
      return entry.secret;
    }
    // A fresh error object each time: callers may annotate what they catch.
    throw new SecretError(error.rawMessage, error.code, error.secretName);
  };

  const fetchAndStore = (name: string, version: string, key: string): Promise<SecretValue> => {
    const started = generation;
    const promise = provider
      .get(name, version ? { version } : {})
      .then(
        (secret) => {
          if (started === generation) remember(key, { secret, expiresAt: now() + ttlMs, retryAt: 0 });
          return secret;
        },
        (raw: unknown) => {
          const error = asSecretError(raw, name, provider.kind);
          counters.errors++;
          log?.warn({ secretName: name, code: error.code, backend: provider.kind }, "secret backend call failed");
          const previous = entries.get(key);
          if (started === generation) {
            // Authoritative answers drop the value; transient ones keep it for the stale window.
            const keep = previous?.secret && isTransient(error) ? previous.secret : undefined;
            const t = now();
            remember(key, {
              ...(keep ? { secret: keep } : {}),
              expiresAt: keep ? (previous?.expiresAt ?? t) : t,
              error,
              retryAt: t + errorBackoffMs,
            });
          }
          return staleOrThrow(name, entries.get(key), error);
        },
      )
      .finally(() => inFlight.delete(key));
    inFlight.set(key, promise);
    return promise;
  };

  const invalidateAll = () => {
    generation++;
    entries.clear();
  };

  const get = async (name: string, opts: GetSecretOptions = {}): Promise<SecretValue> => {
    const version = opts.version ?? "";
    const key = keyOf(name, version);
    const entry = entries.get(key);
    const t = now();
    if (entry?.secret && !entry.error && t < entry.expiresAt) {
      counters.hits++;
      remember(key, entry); // touch for LRU
      return copy(entry.secret);
    }
    counters.misses++;
    const pending = inFlight.get(key);
    // Every caller gets its own copy: one caller zeroing its buffer must not touch the others'.
    if (pending) return pending.then(copy);
    if (entry?.error && t < entry.retryAt) return copy(staleOrThrow(name, entry, entry.error));
    return fetchAndStore(name, version, key).then(copy);
  };

  return {
    kind: provider.kind,
    get,
    ...(provider.locate ? { locate: (name: string) => provider.locate!(name) } : {}),
    list: () => provider.list(),
    getMany: (needs) => resolveMany(get, needs),
    health: () => provider.health(),
    async close() {
      entries.clear();
      await provider.close?.();
    },
    invalidate(name?: string) {
      if (name === undefined) return invalidateAll();
      const prefix = `${name}\u0000`;
      for (const key of [...entries.keys()]) if (key.startsWith(prefix)) entries.delete(key);
    },
    invalidateAll,
    stats() {
      const asked = counters.hits + counters.misses;
      return { ...counters, hitRate: asked === 0 ? 0 : counters.hits / asked, size: entries.size };
    },
  };
}
