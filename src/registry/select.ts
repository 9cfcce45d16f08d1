import semver from "semver";
import { SelectionStrategy } from "../../gen/plugboard/v1/registry_pb.js";
import type { RegistrationRecord } from "../store/types.js";

const UNHEALTHY = 3;

/** Providers of a version in range, unhealthy ones left out unless asked for, in a stable order. */
export function matchingProviders(
  all: RegistrationRecord[],
  versionRange: string,
  includeUnhealthy: boolean,
): RegistrationRecord[] {
  return all
    .filter((r) => semver.satisfies(r.version, versionRange) && (includeUnhealthy || r.health !== UNHEALTHY))
    .sort((a, b) => a.registrationId.localeCompare(b.registrationId));
}

export interface Selector {
  pick(serviceType: string, candidates: RegistrationRecord[], strategy: SelectionStrategy): RegistrationRecord | undefined;
}

/** Selection strategies; round-robin keeps a counter per service type in this process. */
export function createSelector(random: () => number = Math.random): Selector {
  const counters = new Map<string, number>();
  return {
    pick(serviceType, candidates, strategy) {
      if (candidates.length === 0) return undefined;
      switch (strategy) {
        case SelectionStrategy.ROUND_ROBIN: {
          const n = counters.get(serviceType) ?? 0;
          counters.set(serviceType, (n + 1) % 1_000_000_007);
          return candidates[n % candidates.length];
        }
        case SelectionStrategy.RANDOM:
          return candidates[Math.floor(random() * candidates.length)];
        case SelectionStrategy.WEIGHTED: {
          const weights = candidates.map((c) => Math.max(1, c.weight));
          let point = random() * weights.reduce((a, b) => a + b, 0);
          for (let i = 0; i < candidates.length; i++) {
            point -= weights[i]!;
            if (point < 0) return candidates[i];
          }
          return candidates[candidates.length - 1];
        }
        default:
          return candidates[0];
      }
    },
  };
}
