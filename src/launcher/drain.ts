import type { Store } from "../store/types.js";

export interface DrainOptions {
  store: Store;
  runtimeId: string;
  /** Routed calls in flight to a runtime, when the host counts them; without it the settle wait alone applies. */
  inFlight?: ((runtimeId: string) => number) | undefined;
  /** After unregistering, time for calls already resolved to this runtime to reach it. */
  settleMs: number;
  /** Longest wait for in-flight calls. */
  timeoutMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Takes a runtime out of rotation without ending it: its registrations are removed (the router
 * resolves no new call to it; watchers see UNREGISTERED), then calls already on their way finish.
 * The process is stopped afterwards with SIGTERM, and a plugin that drains on SIGTERM (the SDK does)
 * finishes whatever is still running on its side. Returns false when in-flight calls outlived `timeoutMs`.
 */
export async function drainRuntime(options: DrainOptions): Promise<boolean> {
  const { store, runtimeId } = options;
  const own = (await store.listRegistrations()).filter((r) => r.runtimeId === runtimeId);
  for (const registration of own) await store.removeRegistration(registration.registrationId, "unregistered");
  await sleep(options.settleMs);
  if (!options.inFlight) return true;
  const deadline = Date.now() + options.timeoutMs;
  while (options.inFlight(runtimeId) > 0) {
    if (Date.now() >= deadline) return false;
    await sleep(20);
  }
  return true;
}
