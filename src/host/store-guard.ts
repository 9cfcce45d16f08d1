import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "../log/logger.js";
import type { RedisStore } from "../store/redis.js";
import type { Store } from "../store/types.js";

/** What callers see while the state store fails; the store's own error text (hosts, ports, Redis replies) stays in the log. */
export const STORE_UNAVAILABLE_MESSAGE = "state store unavailable";

/** How often one host logs store failures at most; an outage fails every call. */
const LOG_INTERVAL_MS = 5_000;

type AsyncMember = Exclude<keyof Store, "subscribe" | "ping" | "close">;

/**
 * Wraps a store so every rejection that is not already a ConnectError becomes
 * `Unavailable` ("state store unavailable"). Guarding the store itself, rather than
 * each caller of it, covers host RPCs (unary and streaming), the router's decisions,
 * token checks and the secrets service alike, and does not mistake a handler bug for
 * an outage. Synchronous members (subscribe) pass through; `ping` keeps answering false.
 */
export function guardStore(store: Store, logger: Logger): Store {
  let lastLogged = 0;
  let suppressed = 0;
  const unavailable = (operation: string, cause: unknown): ConnectError => {
    const now = Date.now();
    if (now - lastLogged >= LOG_INTERVAL_MS) {
      logger.error(
        { err: cause instanceof Error ? cause.message : String(cause), operation, suppressed },
        "state store failed; answering Unavailable",
      );
      lastLogged = now;
      suppressed = 0;
    } else suppressed++;
    return new ConnectError(STORE_UNAVAILABLE_MESSAGE, Code.Unavailable, undefined, undefined, cause);
  };
  const guard =
    <K extends AsyncMember>(key: K): Store[K] =>
    ((...args: unknown[]) => {
      try {
        return (store[key] as (...a: unknown[]) => Promise<unknown>)
          .apply(store, args)
          .catch((e: unknown) => {
            throw e instanceof ConnectError ? e : unavailable(key, e);
          });
      } catch (e) {
        return Promise.reject(e instanceof ConnectError ? e : unavailable(key, e));
      }
    }) as Store[K];
  const guarded: Store = {
    putRuntime: guard("putRuntime"),
    getRuntime: guard("getRuntime"),
    listRuntimes: guard("listRuntimes"),
    countRuntimes: guard("countRuntimes"),
    setHealth: guard("setHealth"),
    setRuntimeExpiry: guard("setRuntimeExpiry"),
    removeRuntime: guard("removeRuntime"),
    putCredential: guard("putCredential"),
    getCredential: guard("getCredential"),
    findCredentialById: guard("findCredentialById"),
    deleteCredential: guard("deleteCredential"),
    putEnrolment: guard("putEnrolment"),
    getEnrolment: guard("getEnrolment"),
    useEnrolment: guard("useEnrolment"),
    revokeEnrolment: guard("revokeEnrolment"),
    rotateCredential: guard("rotateCredential"),
    putRegistration: guard("putRegistration"),
    getRegistration: guard("getRegistration"),
    removeRegistration: guard("removeRegistration"),
    listRegistrations: guard("listRegistrations"),
    countRegistrations: guard("countRegistrations"),
    pageRegistrations: guard("pageRegistrations"),
    registrationsAt: guard("registrationsAt"),
    listRuntimeRegistrations: guard("listRuntimeRegistrations"),
    renewLease: guard("renewLease"),
    sweepLeases: guard("sweepLeases"),
    sweep: guard("sweep"),
    // Readiness: a failing ping is simply "not ready".
    ping: () => store.ping().catch(() => false),
    subscribe: (listener) => store.subscribe(listener),
    onRuntimeEnded: (listener) => store.onRuntimeEnded(listener),
    close: () => store.close(),
  };
  return guarded;
}

function isRedisStore(store: Store): store is RedisStore {
  return typeof (store as Partial<RedisStore>).onReset === "function";
}

/** Logs when a shared store comes back without its data; returns the unsubscribe. */
export function logStoreResets(store: Store, logger: Logger): () => void {
  if (!isRedisStore(store)) return () => {};
  return store.onReset(() =>
    logger.warn(
      "state store reset: Redis came back without this deployment's data; plugins' tokens no longer verify and they must handshake again",
    ),
  );
}
