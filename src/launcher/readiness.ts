import type { RuntimeRecord, Store } from "../store/types.js";

export interface ReadinessQuery {
  store: Store;
  pluginName: string;
  /**
   * Runtimes that are not this instance's: those that existed before it was spawned and those owned
   * by other instances (hot replace). Compared by ID, not by time, so the host's clock does not matter.
   */
  exclude: (runtimeId: string) => boolean;
  /** Service types this runtime must have registered. */
  registrations: readonly string[];
}

/** IDs of the runtimes a plugin name has now: taken before spawning, so none of them is mistaken for the new one. */
export async function runtimesOf(store: Store, pluginName: string): Promise<Set<string>> {
  return new Set((await store.listRuntimes()).filter((r) => r.pluginName === pluginName).map((r) => r.runtimeId));
}

/** The runtime of a freshly launched instance, once it handshook and registered what is required. */
export async function findReadyRuntime(q: ReadinessQuery): Promise<RuntimeRecord | undefined> {
  const runtimes = (await q.store.listRuntimes())
    .filter((r) => r.pluginName === q.pluginName && !q.exclude(r.runtimeId))
    .sort((a, b) => b.startedAt - a.startedAt);
  if (runtimes.length === 0) return undefined;
  const registered = q.registrations.length === 0 ? [] : await q.store.listRegistrations();
  return runtimes.find((runtime) =>
    q.registrations.every((type) => registered.some((r) => r.runtimeId === runtime.runtimeId && r.serviceType === type)),
  );
}

/**
 * Waits until the instance is ready: re-checked on every registry event and on a short poll
 * (a handshake alone emits no store event). Rejects when `abort` fires (timeout, process exit).
 */
export function waitForReady(q: ReadinessQuery, abort: AbortSignal, pollMs = 50): Promise<RuntimeRecord> {
  return new Promise((resolve, reject) => {
    let checking = false;
    let again = false;
    const cleanup = () => {
      clearInterval(timer);
      unsubscribe();
      abort.removeEventListener("abort", onAbort);
    };
    const check = async () => {
      if (checking) {
        again = true;
        return;
      }
      checking = true;
      try {
        do {
          again = false;
          const runtime = await findReadyRuntime(q);
          if (runtime && !abort.aborted) {
            cleanup();
            resolve(runtime);
            return;
          }
        } while (again && !abort.aborted);
      } catch {
        // A store hiccup: the next poll tries again; the start timeout bounds the wait.
      } finally {
        checking = false;
      }
    };
    const onAbort = () => {
      cleanup();
      reject(abort.reason instanceof Error ? abort.reason : new Error(String(abort.reason)));
    };
    const timer = setInterval(() => void check(), pollMs);
    timer.unref();
    const unsubscribe = q.store.subscribe(() => void check());
    if (abort.aborted) return onAbort();
    abort.addEventListener("abort", onAbort, { once: true });
    void check();
  });
}
