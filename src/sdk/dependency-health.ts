import type { WatchResponse } from "../../gen/plugboard/v1/registry_pb.js";
import { HealthState } from "../../gen/plugboard/v1/common_pb.js";
import { WatchEventType } from "../../gen/plugboard/v1/registry_pb.js";

export interface DependencyHealthOptions {
  /** Required (non-optional) service types. */
  required: string[];
  watch(serviceTypes: string[], signal: AbortSignal): AsyncIterable<WatchResponse>;
  report(state: "healthy" | "degraded", message: string): Promise<void>;
  onError?(error: unknown): void;
  /** Wait before watching again after the stream ended. Default 1 s. */
  retryMs?: number;
}

/**
 * Watches the providers of the services a plugin requires: when one has no healthy provider
 * left, the plugin reports itself DEGRADED naming it; when all are back, HEALTHY again.
 */
export function watchDependencies(options: DependencyHealthOptions): { stop(): void } {
  const controller = new AbortController();
  const retryMs = options.retryMs ?? 1_000;
  let reported: string | undefined; // the last message sent, so nothing is re-sent needlessly

  const evaluate = async (providers: Map<string, Map<string, number>>) => {
    const missing = options.required.filter(
      (type) => ![...(providers.get(type)?.values() ?? [])].some((health) => health !== HealthState.UNHEALTHY),
    );
    const message = missing.length === 0 ? "" : `no healthy provider of ${missing.join(", ")}`;
    if (message === reported) return;
    await options.report(missing.length === 0 ? "healthy" : "degraded", message);
    reported = message;
  };

  const run = async () => {
    while (!controller.signal.aborted) {
      const providers = new Map<string, Map<string, number>>();
      try {
        for await (const event of options.watch(options.required, controller.signal)) {
          // A fresh map per stream; the snapshot may come in several messages and is judged once complete.
          for (const r of event.registrations) {
            const byId = providers.get(r.serviceType) ?? new Map<string, number>();
            providers.set(r.serviceType, byId);
            if (event.type === WatchEventType.REMOVED) byId.delete(r.registrationId);
            else byId.set(r.registrationId, r.health);
          }
          if (event.type === WatchEventType.SNAPSHOT && !event.snapshotComplete) continue;
          await evaluate(providers);
        }
      } catch (error) {
        if (!controller.signal.aborted) options.onError?.(error);
      }
      if (!controller.signal.aborted) await new Promise((resolve) => setTimeout(resolve, retryMs).unref());
    }
  };
  if (options.required.length > 0) void run();
  return { stop: () => controller.abort() };
}
