import { HealthState } from "../../gen/plugboard/v1/common_pb.js";

/**
 * The one health vocabulary of Plugboard: the proto enum's names lower-cased, with UNSPECIFIED
 * read as "unknown". Metrics labels, `plugboard status` and the SDK all use these words.
 */
export type HealthName = "unknown" | "healthy" | "degraded" | "unhealthy";

/** What a plugin may report about itself ("unknown" is only ever the absence of a report). */
export type ReportableHealth = Exclude<HealthName, "unknown">;

export const HEALTH_NAMES: readonly HealthName[] = ["unknown", "healthy", "degraded", "unhealthy"];

export function healthName(state: HealthState | number): HealthName {
  switch (state) {
    case HealthState.HEALTHY:
      return "healthy";
    case HealthState.DEGRADED:
      return "degraded";
    case HealthState.UNHEALTHY:
      return "unhealthy";
    default:
      return "unknown";
  }
}

export const HEALTH_STATES: Record<ReportableHealth, HealthState> = {
  healthy: HealthState.HEALTHY,
  degraded: HealthState.DEGRADED,
  unhealthy: HealthState.UNHEALTHY,
};
