import type { AuditEvent } from "../audit/audit.js";
import type { Logger } from "../log/logger.js";
import type { HostMetrics } from "../metrics/host-metrics.js";
import type { Store } from "../store/types.js";
import type { AdminCheck } from "./access.js";
import { isLoopbackHost } from "./access.js";
import { createAuditRing } from "./audit-ring.js";
import { createEventStreams } from "./event-stream.js";
import { fleetState, type FleetState } from "./fleet-state.js";
import { createOpsHandler, type OpsHandler } from "./http-handler.js";
import { createLaunchedPlugins, type LaunchedPlugins } from "./launched.js";
import { listenOpsServer, type OpsListenOptions, type OpsServer } from "./listen.js";
import { createReadinessCheck, type Readiness } from "./readiness.js";

/** Limits and timings of the ops concern (all optional). */
export interface OpsOptions {
  /** Audit events the dashboard keeps in memory, newest replacing oldest. Default 200. */
  recentAuditEvents?: number;
  /** How long /readyz waits for the store to answer. Default 2 000 ms. */
  readyTimeoutMs?: number;
  /** Concurrent dashboard event streams per host. Default 16. */
  maxEventStreams?: number;
  /** While a dashboard is open, the state is re-read this often. Default 1 000 ms. */
  statePollMs?: number;
}

export interface OpsDeps {
  hostId: string;
  store: Store;
  metrics: HostMetrics;
  logger: Logger;
  /** Whether a request's credential is an admin's (the host's identify + isAdmin). */
  adminCheck: AdminCheck;
}

/** The host's operational surface: probes, metrics, the dashboard, launched-plugin state. */
export interface Ops {
  /** Launchers add what they launched here (readiness, dashboard, Admin.ListPlugins). */
  readonly launched: LaunchedPlugins;
  /** Feed every audit event (the recent-events ring; plugin start/stop updates the dashboard). */
  observeAudit(event: AuditEvent): void;
  /** Probe paths only, for the main port. */
  readonly probeHandler: OpsHandler;
  readiness(): Promise<Readiness>;
  snapshot(): Promise<FleetState>;
  listen(options?: OpsListenOptions): Promise<OpsServer>;
  close(): Promise<void>;
}

export function createOps(deps: OpsDeps, options: OpsOptions = {}): Ops {
  const launched = createLaunchedPlugins();
  const audit = createAuditRing(options.recentAuditEvents ?? 200);
  const readiness = createReadinessCheck(deps.store, launched, options.readyTimeoutMs ?? 2_000);
  const snapshot = () => fleetState({ hostId: deps.hostId, store: deps.store, launched, registry: deps.metrics.registry, audit });
  const streams = createEventStreams({
    snapshot,
    ...(options.statePollMs ? { pollMs: options.statePollMs } : {}),
    ...(options.maxEventStreams ? { maxStreams: options.maxEventStreams } : {}),
    onError: (e) => deps.logger.warn({ err: String(e) }, "dashboard state could not be read"),
  });
  const unsubscribe = deps.store.subscribe(() => streams.changed());
  const handlerDeps = { metrics: deps.metrics, readiness, snapshot, streams, adminCheck: deps.adminCheck };
  const servers = new Set<OpsServer>();
  return {
    launched,
    observeAudit(event) {
      audit.push(event);
      streams.changed();
    },
    probeHandler: createOpsHandler(handlerDeps, { dashboard: false, anonymousOnLoopback: false }),
    readiness,
    snapshot,
    async listen(listenOptions = {}) {
      const anonymousOnLoopback = isLoopbackHost(listenOptions.hostname ?? "127.0.0.1");
      const server = await listenOpsServer(createOpsHandler(handlerDeps, { dashboard: true, anonymousOnLoopback }), listenOptions);
      servers.add(server);
      return server;
    },
    async close() {
      unsubscribe();
      streams.close();
      await Promise.all([...servers].map((s) => s.close()));
      servers.clear();
    },
  };
}
