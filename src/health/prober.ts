import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import type { Logger } from "../log/logger.js";
import type { RuntimeRecord, Store } from "../store/types.js";

export interface HealthProberOptions {
  store: Store;
  /** Between probe rounds. Default 5 s. */
  intervalMs?: number;
  /** Per probe. Default 2 s. */
  timeoutMs?: number;
  /** A plugin's own health report older than this no longer vouches for it. Default 15 s. */
  staleAfterMs?: number;
  /** TLS towards https:// providers (CA, and client certificate for mTLS). */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer };
  logger?: Logger;
  now?: () => number;
  /** Told of every runtime whose probe succeeded (brings an ejected provider back into rotation). */
  onServing?(runtimeId: string): void;
}

/** What one probe found: "unsupported" when the provider does not serve grpc.health.v1.Health. */
export type ProbeOutcome = "serving" | "failed" | "unsupported";

export interface HealthProber {
  /** One round over every runtime with registrations; resolves with each runtime's outcome. */
  probeOnce(): Promise<Map<string, ProbeOutcome>>;
  start(): void;
  /** Stops the timer and closes probe connections. */
  stop(): void;
}

const UNHEALTHY = 3;
const HEALTHY = 1;

/**
 * Active health checking: calls grpc.health.v1.Health/Check (service "") on each registered
 * provider's endpoint. A runtime is marked UNHEALTHY (watchers see UPDATED, the router skips it)
 * only when its own report is stale *and* the probe fails; a fresh report outranks the probe.
 * A plugin that does not serve grpc.health (Unimplemented) is judged by its own reports alone:
 * the prober leaves it untouched. A runtime the prober marked is restored once a probe succeeds.
 */
export function createHealthProber(options: HealthProberOptions): HealthProber {
  const { store, logger } = options;
  const intervalMs = options.intervalMs ?? 5_000;
  const timeoutMs = options.timeoutMs ?? 2_000;
  const staleAfterMs = options.staleAfterMs ?? 15_000;
  const now = options.now ?? Date.now;
  for (const [name, v] of Object.entries({ intervalMs, timeoutMs, staleAfterMs }))
    if (!(Number.isFinite(v) && v > 0)) throw new Error(`createHealthProber: ${name} must be a positive number`);
  const clients = new Map<string, { manager: Http2SessionManager; client: ReturnType<typeof createClient<typeof Health>> }>();
  /** Runtimes this prober marked unhealthy: only those does it restore. */
  const marked = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let running = false;

  const clientFor = (baseUrl: string) => {
    let entry = clients.get(baseUrl);
    if (!entry) {
      const manager = new Http2SessionManager(baseUrl, { idleConnectionTimeoutMs: intervalMs * 3 }, options.tls);
      const transport: Transport = createGrpcTransport({ baseUrl, sessionManager: manager, ...(options.tls ? { nodeOptions: options.tls } : {}) });
      entry = { manager, client: createClient(Health, transport) };
      clients.set(baseUrl, entry);
    }
    return entry.client;
  };

  async function probe(endpoint: string): Promise<ProbeOutcome> {
    try {
      const res = await clientFor(endpoint).check({ service: "" }, { timeoutMs });
      return res.status === HealthCheckResponse_ServingStatus.SERVING ? "serving" : "failed";
    } catch (e) {
      return ConnectError.from(e).code === Code.Unimplemented ? "unsupported" : "failed";
    }
  }

  async function judge(runtime: RuntimeRecord, outcome: ProbeOutcome): Promise<void> {
    const { runtimeId } = runtime;
    if (outcome === "serving") options.onServing?.(runtimeId);
    if (outcome === "failed" && now() - runtime.healthReportedAt > staleAfterMs && runtime.health !== UNHEALTHY) {
      // The plugin's last report time is kept, so staleness stays measured from its own reports.
      await store.setHealth(runtimeId, UNHEALTHY, "health probe failed and no recent health report", runtime.healthReportedAt);
      marked.add(runtimeId);
      logger?.warn({ runtimeId, plugin: runtime.pluginName }, "provider marked unhealthy: probe failed, report stale");
    } else if (outcome === "serving" && marked.has(runtimeId)) {
      marked.delete(runtimeId);
      if (runtime.health === UNHEALTHY) {
        await store.setHealth(runtimeId, HEALTHY, "health probe ok", runtime.healthReportedAt);
        logger?.info({ runtimeId, plugin: runtime.pluginName }, "provider healthy again: probe ok");
      }
    }
  }

  async function probeOnce(): Promise<Map<string, ProbeOutcome>> {
    const registrations = await store.listRegistrations();
    const endpointsOf = new Map<string, Set<string>>();
    for (const r of registrations) endpointsOf.set(r.runtimeId, (endpointsOf.get(r.runtimeId) ?? new Set()).add(r.endpoint));
    const outcomes = new Map<string, ProbeOutcome>();
    await Promise.all(
      [...endpointsOf].map(async ([runtimeId, endpoints]) => {
        const results = await Promise.all([...endpoints].map(probe));
        // Any failing endpoint fails the runtime; "unsupported" only if none answered either way.
        const outcome: ProbeOutcome = results.includes("failed") ? "failed" : results.includes("serving") ? "serving" : "unsupported";
        outcomes.set(runtimeId, outcome);
        const runtime = await store.getRuntime(runtimeId);
        if (runtime) await judge(runtime, outcome);
      }),
    );
    for (const id of marked) if (!endpointsOf.has(id)) marked.delete(id);
    // Connections to endpoints that are gone are closed.
    const live = new Set(registrations.map((r) => r.endpoint));
    for (const [url, entry] of clients) if (!live.has(url)) (entry.manager.abort(), clients.delete(url));
    return outcomes;
  }

  return {
    probeOnce,
    start() {
      if (timer) return;
      timer = setInterval(() => {
        if (running) return;
        running = true;
        probeOnce()
          .catch((e: unknown) => logger?.warn({ err: String(e) }, "health probe round failed"))
          .finally(() => (running = false));
      }, intervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      for (const entry of clients.values()) entry.manager.abort();
      clients.clear();
    },
  };
}
