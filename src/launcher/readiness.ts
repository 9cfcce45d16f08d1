import type { RuntimeRecord, Store } from "../store/types.js";

export interface ReadinessQuery {
  store: Store;
  pluginName: string;
  /**
   * Runtimes that are not this instance's: those that existed before it was spawned and those owned
   * by other instances (hot replace). Compared by ID, not by time, so the host's clock does not matter.
   */
  exclude: (runtimeId: string) => boolean;
  /**
   * Service types this runtime must have registered. Default (undefined): what the plugin itself
   * declared it provides at handshake, so the spec need not repeat it.
   */
  registrations?: readonly string[];
}

/** IDs of the runtimes a plugin name has now: taken before spawning, so none of them is mistaken for the new one. */
export async function runtimesOf(store: Store, pluginName: string): Promise<Set<string>> {
  return new Set((await store.listRuntimes()).filter((r) => r.pluginName === pluginName).map((r) => r.runtimeId));
}

/** What this instance has done so far: its runtime (newest first) and, per awaited service, whether it registered. */
interface Progress {
  runtime: RuntimeRecord;
  /** Awaited or declared services this runtime registered. */
  registered: string[];
  /** Awaited services it has not registered. */
  missing: string[];
}

async function progressOf(q: ReadinessQuery): Promise<Progress[]> {
  const runtimes = (await q.store.listRuntimes())
    .filter((r) => r.pluginName === q.pluginName && !q.exclude(r.runtimeId))
    .sort((a, b) => b.startedAt - a.startedAt);
  if (runtimes.length === 0) return [];
  const all = await q.store.listRegistrations();
  return runtimes.map((runtime) => {
    const awaited = q.registrations ?? runtime.provides.map((p) => p.type);
    const own = new Set(all.filter((r) => r.runtimeId === runtime.runtimeId).map((r) => r.serviceType));
    const relevant = [...new Set([...runtime.provides.map((p) => p.type), ...awaited])];
    return { runtime, registered: relevant.filter((t) => own.has(t)), missing: awaited.filter((t) => !own.has(t)) };
  });
}

/** The runtime of a freshly launched instance, once it handshook and registered what is awaited. */
export async function findReadyRuntime(q: ReadinessQuery): Promise<RuntimeRecord | undefined> {
  return (await progressOf(q)).find((p) => p.missing.length === 0)?.runtime;
}

/**
 * For a readiness failure: what did and did not happen after the spawn, e.g.
 * "handshook as rt_1 declaring kv.v1.KV, x.v1.Y; registered kv.v1.KV; did not register x.v1.Y".
 */
export async function describeProgress(q: ReadinessQuery): Promise<string> {
  let progress: Progress[];
  try {
    progress = await progressOf(q);
  } catch {
    return "its progress is unknown (the state store did not answer)";
  }
  const latest = progress[0];
  if (!latest) return `did not handshake as ${q.pluginName} (the plugin must use this name, PLUGBOARD_HOST_URL and PLUGBOARD_LAUNCH_SECRET)`;
  const { runtime, registered, missing } = latest;
  const declared = runtime.provides.map((p) => p.type);
  const parts = [`handshook as ${runtime.runtimeId} declaring ${declared.length > 0 ? declared.join(", ") : "no provided services"}`];
  if (registered.length > 0) parts.push(`registered ${registered.join(", ")}`);
  if (missing.length > 0) {
    const undeclared = missing.filter((t) => !declared.includes(t));
    parts.push(`did not register ${missing.join(", ")}`);
    if (undeclared.length > 0) parts.push(`readiness.registrations names ${undeclared.join(", ")}, which the plugin does not declare`);
  }
  return parts.join("; ");
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
