import { describe, expect, it } from "vitest";
import { HealthState } from "../../../gen/plugboard/v1/common_pb.js";
import { HEALTH_NAMES, HEALTH_STATES, healthName } from "../../../src/protocol/health.js";

describe("health vocabulary", () => {
  it("names every state, reading UNSPECIFIED and values it does not know as unknown", () => {
    expect(healthName(HealthState.HEALTHY)).toBe("healthy");
    expect(healthName(HealthState.DEGRADED)).toBe("degraded");
    expect(healthName(HealthState.UNHEALTHY)).toBe("unhealthy");
    expect(healthName(HealthState.UNSPECIFIED)).toBe("unknown");
    expect(healthName(99)).toBe("unknown");
  });

  it("reportable names map back to their states, and every name is listed", () => {
    for (const [name, state] of Object.entries(HEALTH_STATES)) expect(healthName(state)).toBe(name);
    expect(HEALTH_NAMES).toEqual(["unknown", "healthy", "degraded", "unhealthy"]);
  });
});
