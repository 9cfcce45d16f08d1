import type { Registry } from "prom-client";

/** Routed calls of one service as the dashboard shows them (totals; the page derives rates). */
export interface ServiceStats {
  service: string;
  calls: number;
  errors: number;
  /** Mean duration in ms, or null before the first call. */
  meanMs: number | null;
  /** 95th percentile upper bound from the histogram buckets, in ms (null when past the last bucket or no calls). */
  p95Ms: number | null;
}

type MetricValue = { value: number; labels: Record<string, string | number>; metricName?: string };

async function valuesOf(registry: Registry, suffix: string): Promise<MetricValue[]> {
  const metric = registry.getMetricsAsArray().find((m) => m.name.endsWith(suffix)) as
    | { get(): Promise<{ values: MetricValue[] }> }
    | undefined;
  return metric ? (await metric.get()).values : [];
}

/** Per-service totals read from the host's own metrics registry (routed_calls_total and its duration histogram). */
export async function serviceStats(registry: Registry): Promise<ServiceStats[]> {
  const byService = new Map<string, { calls: number; errors: number; sum: number; buckets: Map<number, number> }>();
  const entry = (service: string) => {
    let e = byService.get(service);
    if (!e) byService.set(service, (e = { calls: 0, errors: 0, sum: 0, buckets: new Map() }));
    return e;
  };
  for (const v of await valuesOf(registry, "routed_calls_total")) {
    const e = entry(String(v.labels["service"]));
    e.calls += v.value;
    if (v.labels["code"] !== "ok") e.errors += v.value;
  }
  for (const v of await valuesOf(registry, "routed_call_duration_seconds")) {
    const e = entry(String(v.labels["service"]));
    if (v.metricName?.endsWith("_sum")) e.sum += v.value;
    else if (v.metricName?.endsWith("_bucket")) {
      const le = v.labels["le"] === "+Inf" ? Infinity : Number(v.labels["le"]);
      e.buckets.set(le, (e.buckets.get(le) ?? 0) + v.value);
    }
  }
  return [...byService.entries()]
    .map(([service, e]) => {
      const target = e.calls * 0.95;
      const bound = [...e.buckets.entries()].sort((a, b) => a[0] - b[0]).find(([, count]) => count >= target)?.[0];
      return {
        service,
        calls: e.calls,
        errors: e.errors,
        meanMs: e.calls > 0 ? (e.sum / e.calls) * 1000 : null,
        p95Ms: e.calls > 0 && bound !== undefined && Number.isFinite(bound) ? bound * 1000 : null,
      };
    })
    .sort((a, b) => a.service.localeCompare(b.service));
}

/** Grants issued per capability since the host started (grants_issued_total). */
export async function grantStats(registry: Registry): Promise<Array<{ capability: string; issued: number }>> {
  return (await valuesOf(registry, "grants_issued_total"))
    .map((v) => ({ capability: String(v.labels["capability"]), issued: v.value }))
    .sort((a, b) => a.capability.localeCompare(b.capability));
}
