import { Code, ConnectError } from "@connectrpc/connect";
import type { Store } from "../store/types.js";

export interface CapLimits {
  maxRuntimes: number;
  maxRuntimesPerName: number;
  registrationsPerRuntime: number;
  registrationsPerService: number;
}

const exhausted = (what: string, limit: string, max: number) =>
  new ConnectError(`${what} reached its maximum of ${max} (${limit})`, Code.ResourceExhausted);

/**
 * Caps on what runtimes may hold in the store. Checked from the store's counts just before the write,
 * so concurrent admissions may overshoot a cap by at most their number (the handshake rate bounds it).
 */
export function createCaps(limits: CapLimits, store: Store) {
  return {
    async runtimeSlot(pluginName: string): Promise<void> {
      const [total, named] = await Promise.all([store.countRuntimes(), store.countRuntimes(pluginName)]);
      if (total >= limits.maxRuntimes) throw exhausted("the host's runtimes", "limits.maxRuntimes", limits.maxRuntimes);
      if (named >= limits.maxRuntimesPerName)
        throw exhausted(`runtimes of plugin ${pluginName}`, "limits.maxRuntimesPerName", limits.maxRuntimesPerName);
    },
    async registrationSlot(runtimeId: string, serviceType: string): Promise<void> {
      const [own, ofType] = await Promise.all([
        store.countRegistrations({ runtimeId }),
        store.countRegistrations({ serviceType }),
      ]);
      if (own >= limits.registrationsPerRuntime)
        throw exhausted("this runtime's registrations", "limits.registrationsPerRuntime", limits.registrationsPerRuntime);
      if (ofType >= limits.registrationsPerService)
        throw exhausted(`registrations of ${serviceType}`, "limits.registrationsPerService", limits.registrationsPerService);
    },
  };
}
