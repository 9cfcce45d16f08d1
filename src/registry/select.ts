import semver from "semver";
import { SelectionStrategy } from "../../gen/plugboard/v1/registry_pb.js";
import type { RegistrationRecord } from "../store/types.js";

const UNHEALTHY = 3;

/** Code-unit order of registration ids (the order of pages and of the store's index). */
export const byRegistrationId = (a: RegistrationRecord, b: RegistrationRecord): number =>
  a.registrationId < b.registrationId ? -1 : a.registrationId > b.registrationId ? 1 : 0;

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

/** Whether a provider is of a version in range and, unless asked for, not unhealthy. */
export function providerFilter(versionRange: string, includeUnhealthy: boolean): (r: RegistrationRecord) => boolean {
  return (r) => (includeUnhealthy || r.health !== UNHEALTHY) && semver.satisfies(r.version, versionRange);
}

/**
 * A service type's providers, all of them (matching or not), in registrationId order, reached by
 * rank: a strategy picks without reading every provider.
 */
export interface PickSource {
  count(): Promise<number>;
  at(offset: number, limit: number): Promise<RegistrationRecord[]>;
  matches(r: RegistrationRecord): boolean;
  /** Every matching provider, in order (WEIGHTED only: a weighted draw needs every weight). */
  allMatching(): Promise<RegistrationRecord[]>;
}

/** Providers read per probe while looking for a matching one from a start rank. */
const PROBE = 32;

export interface Selector {
  pick(serviceType: string, candidates: RegistrationRecord[], strategy: SelectionStrategy): RegistrationRecord | undefined;
  /**
   * The same strategies over a PickSource. ROUND_ROBIN and RANDOM choose a rank among all the
   * type's providers and take the first matching one from there (wrapping): uniform when every
   * provider matches, and O(1) reads (a probe) unless many in a row do not match. UNSPECIFIED takes
   * the first matching. WEIGHTED reads every matching provider.
   */
  pickFrom(serviceType: string, source: PickSource, strategy: SelectionStrategy): Promise<RegistrationRecord | undefined>;
}

async function firstMatchFrom(source: PickSource, start: number, total: number): Promise<RegistrationRecord | undefined> {
  let offset = start;
  // Every provider is looked at once at most; a type that shrinks meanwhile ends the probe early.
  for (let examined = 0; examined < total; ) {
    if (offset >= total) offset = 0;
    const batch = await source.at(offset, Math.min(PROBE, total - offset));
    if (batch.length === 0) {
      if (offset === 0) return undefined;
      offset = 0;
      continue;
    }
    for (const r of batch) if (source.matches(r)) return r;
    examined += batch.length;
    offset += batch.length;
  }
  return undefined;
}

/** Selection strategies; round-robin keeps a counter per service type in this process. */
export function createSelector(random: () => number = Math.random): Selector {
  const counters = new Map<string, number>();
  const nextCount = (serviceType: string) => {
    const n = counters.get(serviceType) ?? 0;
    counters.set(serviceType, (n + 1) % 1_000_000_007);
    return n;
  };
  return {
    async pickFrom(serviceType, source, strategy) {
      if (strategy === SelectionStrategy.WEIGHTED) return this.pick(serviceType, await source.allMatching(), strategy);
      const total = await source.count();
      if (total === 0) return undefined;
      const start =
        strategy === SelectionStrategy.ROUND_ROBIN
          ? nextCount(serviceType) % total
          : strategy === SelectionStrategy.RANDOM
            ? Math.min(total - 1, Math.floor(random() * total))
            : 0;
      return firstMatchFrom(source, start, total);
    },
    pick(serviceType, candidates, strategy) {
      if (candidates.length === 0) return undefined;
      switch (strategy) {
        case SelectionStrategy.ROUND_ROBIN:
          return candidates[nextCount(serviceType) % candidates.length];
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
