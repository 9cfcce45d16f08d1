import { collectDefaultMetrics, Registry } from "prom-client";

let shared: Registry | undefined;

/**
 * prom-client's default process metrics (process_cpu_seconds_total, nodejs_heap_size_used_bytes, event
 * loop lag, GC…) in one registry per process: they describe the process, not a host, and their
 * collectors (a GC observer, an event-loop monitor) are installed once however many hosts it runs.
 */
export function processMetricsRegistry(): Registry {
  if (!shared) {
    shared = new Registry();
    collectDefaultMetrics({ register: shared });
  }
  return shared;
}
