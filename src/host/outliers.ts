import type { Registry } from "prom-client";
import type { AuditSink } from "../audit/index.js";
import type { Logger } from "../log/index.js";
import {
  createOutlierDetector,
  exportOutlierMetrics,
  type OutlierDetector,
  type OutlierEjectionOptions,
} from "../router/outlier-ejection.js";

/**
 * The host's passive outlier ejection (on unless `outlierEjection: false`): every ejection is
 * audited and logged, and counted in plugboard_provider_ejections_total / plugboard_providers_ejected.
 */
export function createHostOutlierDetector(
  options: OutlierEjectionOptions | false | undefined,
  deps: { audit: AuditSink; registry: Registry; logger: Logger },
): OutlierDetector | undefined {
  if (options === false) return undefined;
  const detector = createOutlierDetector(options ?? {}, {
    onEject(e) {
      deps.logger.warn({ runtimeId: e.runtimeId, reason: e.reason, durationMs: e.durationMs, timesEjected: e.timesEjected }, "provider ejected from rotation");
      deps.audit({ event: "provider.ejected", outcome: "failure", target: e.runtimeId, reason: `${e.reason}; out for ${e.durationMs} ms` });
    },
    onRestore(runtimeId) {
      deps.logger.info({ runtimeId }, "provider back in rotation");
    },
  });
  exportOutlierMetrics(deps.registry, detector);
  return detector;
}
