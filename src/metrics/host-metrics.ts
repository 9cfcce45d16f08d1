import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { AuditEvent } from "../audit/audit.js";
import type { CallEndInfo } from "../router/router.js";
import type { SecretCacheStats } from "../secrets/cache.js";
import { HEALTH_NAMES, healthName } from "../protocol/health.js";
import type { Store } from "../store/types.js";
import { LabelChildren } from "./label-children.js";
import { PendingCounts } from "./pending-counts.js";
import { processMetricsRegistry } from "./process-metrics.js";

export type AuthResult = "success" | "failure" | "absent";

export interface HostMetricsOptions {
  /** Read for the active-plugin and registration gauges at scrape time. */
  store: Store;
  /** Secret cache whose hit/miss counters are exported. */
  secretCache?: { stats(): SecretCacheStats };
  /** Metric name prefix; default "plugboard_". */
  prefix?: string;
  /** Distinct routed-service label values kept before the rest are counted as "other". Default 256. */
  maxServiceLabels?: number;
  /** Append prom-client's default process metrics (shared by the process's hosts) to render(). Default true. */
  processMetrics?: boolean;
  /** The host's own service types: they earn a label like registered services do. */
  ownServices?: Iterable<string>;
}

export interface HostMetrics {
  /** Its own registry (never the global one), so several hosts in one process do not clash. */
  readonly registry: Registry;
  /** Server interceptor timing every host RPC by method and code; place it outermost. */
  readonly rpcInterceptor: Interceptor;
  /** The router's onCallEnd hook. */
  observeRoutedCall(info: CallEndInfo): void;
  observeAuth(method: string, result: AuthResult): void;
  /** Feeds counters that follow audit events (grants issued). */
  observeAudit(event: AuditEvent): void;
  /** For the launcher: `pluginRestarts.inc({ plugin })`. */
  readonly pluginRestarts: Counter<"plugin">;
  /**
   * For launchers: their plugins' states, exported at scrape time as `plugboard_launched_plugins{plugin,state} 1`
   * (a plugin that gave up shows `state="gave-up"`). Returns a function that removes the source.
   */
  addLaunchedPlugins(source: () => readonly { name: string; state: string }[]): () => void;
  /** Prometheus text exposition. */
  render(): Promise<{ contentType: string; body: string }>;
  /** Stop following the store's registrations. */
  close(): void;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createHostMetrics(options: HostMetricsOptions): HostMetrics {
  const prefix = options.prefix ?? "plugboard_";
  const registry = new Registry();
  const registers = [registry];
  const { store, secretCache } = options;

  const rpcCalls = new Counter({ name: `${prefix}rpc_calls_total`, help: "Host RPCs by method and result code", labelNames: ["method", "code"] as const, registers });
  const rpcLatency = new Histogram({ name: `${prefix}rpc_duration_seconds`, help: "Host RPC handling time (streams: until the handler returns)", labelNames: ["method", "code"] as const, buckets: LATENCY_BUCKETS, registers });
  // Counted on every routed call: taken as plain counts and handed to prom-client when scraped.
  const pendingCounter = (name: string, help: string, [first, second]: readonly [string, string]) => {
    const pending = new PendingCounts();
    new Counter({
      name,
      help,
      labelNames: [first, second],
      registers,
      collect() {
        pending.drain((a, b, n) => this.inc({ [first]: a, [second]: b }, n));
      },
    });
    return pending;
  };
  const pendingRouted = pendingCounter(`${prefix}routed_calls_total`, "Routed plugin calls by service and result code", ["service", "code"]);
  const pendingAuth = pendingCounter(`${prefix}auth_attempts_total`, "Authentication attempts by credential kind and result", ["method", "result"]);
  const routedLatency = new Histogram({ name: `${prefix}routed_call_duration_seconds`, help: "Routed plugin call duration", labelNames: ["service", "code"] as const, buckets: LATENCY_BUCKETS, registers });
  const latencyOf = new LabelChildren((service, code) => routedLatency.labels(service, code));
  const rateLimited = new Counter({ name: `${prefix}rate_limit_rejections_total`, help: "Routed calls refused by the rate limiter (resource_exhausted)", labelNames: ["service"] as const, registers });
  const grantsIssued = new Counter({ name: `${prefix}grants_issued_total`, help: "Capability grants issued", labelNames: ["capability"] as const, registers });
  const pluginRestarts = new Counter({ name: `${prefix}plugin_restarts_total`, help: "Plugin process restarts by the launcher", labelNames: ["plugin"] as const, registers });

  new Gauge({
    name: `${prefix}active_plugins`,
    help: "Live plugin runtimes by reported health",
    labelNames: ["health"] as const,
    registers,
    async collect() {
      const runtimes = await store.listRuntimes();
      this.reset();
      for (const name of HEALTH_NAMES) this.set({ health: name }, 0);
      for (const r of runtimes) this.inc({ health: healthName(r.health) });
    },
  });
  new Gauge({
    name: `${prefix}registrations`,
    help: "Registered services by service type",
    labelNames: ["service"] as const,
    registers,
    async collect() {
      const registrations = await store.listRegistrations();
      this.reset();
      for (const r of registrations) {
        this.inc({ service: r.serviceType });
        registered.add(r.serviceType);
      }
    },
  });
  const launchedSources = new Set<() => readonly { name: string; state: string }[]>();
  new Gauge({
    name: `${prefix}launched_plugins`,
    help: "Plugins run by a launcher, by state (starting, ready, restarting, stopped, failed, gave-up)",
    labelNames: ["plugin", "state"] as const,
    registers,
    collect() {
      this.reset();
      for (const source of launchedSources) for (const p of source()) this.set({ plugin: p.name, state: p.state }, 1);
    },
  });
  if (secretCache) {
    // The cache keeps its own monotonic counts: export them as they are at scrape time.
    const mirror = (name: string, help: string, read: (s: SecretCacheStats) => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          const value = read(secretCache.stats());
          if (value > 0) this.inc(value);
        },
      });
    mirror(`${prefix}secret_cache_hits_total`, "Secret cache hits", (s) => s.hits);
    mirror(`${prefix}secret_cache_misses_total`, "Secret cache misses", (s) => s.misses);
  }

  // Service names in routed paths are chosen by callers: without a bound, anyone could grow the
  // registry (one series per made-up name). Unauthenticated calls never name a label, and only
  // services that are (or were) registered, or the host's own, earn one: refused calls to made-up
  // names count as "unregistered" and cannot use up the budget real services need.
  const maxServiceLabels = options.maxServiceLabels ?? 256;
  const serviceLabels = new Set<string>();
  const ownServices = new Set(options.ownServices ?? []);
  const registered = new Set<string>();
  // Known registrations: store events, each scrape's registration list, and forwarded calls.
  const stopFollowing = store.subscribe((event) => {
    if (event.type !== "removed") registered.add(event.registration.serviceType);
  });
  const serviceLabel = (info: CallEndInfo): string => {
    if (!info.caller || !info.service) return "unknown";
    if (serviceLabels.has(info.service)) return info.service;
    // A call forwarded to a provider (runtimeId set) proves the service is registered.
    if (info.runtimeId === undefined && !registered.has(info.service) && !ownServices.has(info.service)) return "unregistered";
    if (serviceLabels.size >= maxServiceLabels) return "other";
    serviceLabels.add(info.service);
    return info.service;
  };

  // One labelled child pair per (host method, code), as for routed latency: both sets are bounded (the
  // interceptors see only the host's own methods).
  const rpcChildren = new LabelChildren((method, code) => {
    const calls = rpcCalls.labels(method, code);
    const latency = rpcLatency.labels(method, code);
    return { observe: (seconds: number) => (calls.inc(), latency.observe(seconds)) };
  });
  const rpcInterceptor: Interceptor = (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    const started = performance.now();
    const done = (code: string) => rpcChildren.get(method, code).observe((performance.now() - started) / 1000);
    try {
      const res = await next(req);
      done("ok");
      return res;
    } catch (e) {
      done(codeToString(e instanceof ConnectError ? e.code : Code.Internal));
      throw e;
    }
  };

  return {
    registry,
    rpcInterceptor,
    observeRoutedCall(info) {
      const service = serviceLabel(info);
      pendingRouted.add(service, info.code);
      latencyOf.get(service, info.code).observe(info.durationMs / 1000);
      if (info.code === "resource_exhausted") rateLimited.inc({ service });
    },
    observeAuth(method, result) {
      pendingAuth.add(method, result);
    },
    addLaunchedPlugins(source) {
      launchedSources.add(source);
      return () => void launchedSources.delete(source);
    },
    observeAudit(event) {
      if (event.event === "grant.issue" && event.outcome === "success")
        grantsIssued.inc({ capability: (event.target ?? "").split("#")[0] ?? "" });
    },
    pluginRestarts,
    async render() {
      const own = await registry.metrics();
      const body = options.processMetrics === false ? own : own + (await processMetricsRegistry().metrics());
      return { contentType: registry.contentType, body };
    },
    close: stopFollowing,
  };
}
