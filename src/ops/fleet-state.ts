import type { Registry } from "prom-client";
import { HealthState } from "../../gen/plugboard/v1/common_pb.js";
import type { RuntimeRecord, Store } from "../store/types.js";
import type { AuditRing, RecordedAuditEvent } from "./audit-ring.js";
import type { LaunchedPlugin, LaunchedPlugins } from "./launched.js";
import { grantStats, serviceStats, type ServiceStats } from "./service-stats.js";

export interface RuntimeView {
  runtimeId: string;
  pluginName: string;
  pluginVersion: string;
  /** How the name was proven at handshake, when the store records it. */
  nameProof: string | null;
  health: string;
  healthMessage: string;
  startedAt: number;
  registrations: Array<{ registrationId: string; serviceType: string; version: string; endpoint: string }>;
  /** The launched process behind this runtime, when a launcher of this host started it. */
  launched: Omit<LaunchedPlugin, "runtimeId"> | null;
}

/** What the dashboard shows: read only, and nothing secret (no tokens, keys or signing material). */
export interface FleetState {
  hostId: string;
  at: number;
  plugins: LaunchedPlugin[];
  runtimes: RuntimeView[];
  services: ServiceStats[];
  grants: Array<{ capability: string; issued: number }>;
  audit: RecordedAuditEvent[];
}

export interface FleetSources {
  hostId: string;
  store: Store;
  launched: LaunchedPlugins;
  registry: Registry;
  audit: AuditRing;
  now?: () => number;
}

const healthName = (value: number) => (HealthState[value] ?? "UNKNOWN").toLowerCase();

/** Read through a loose view: older stores have no name proof on the record. */
const nameProofOf = (r: RuntimeRecord) => (r as RuntimeRecord & { nameProof?: string }).nameProof ?? null;

export async function fleetState(sources: FleetSources): Promise<FleetState> {
  const [runtimes, registrations, services, grants] = await Promise.all([
    sources.store.listRuntimes(),
    sources.store.listRegistrations(),
    serviceStats(sources.registry),
    grantStats(sources.registry),
  ]);
  const plugins = sources.launched.list();
  const launchedByRuntime = new Map(plugins.filter((p) => p.runtimeId).map((p) => [p.runtimeId!, p]));
  return {
    hostId: sources.hostId,
    at: (sources.now ?? Date.now)(),
    plugins,
    runtimes: runtimes
      .map((r): RuntimeView => {
        const launched = launchedByRuntime.get(r.runtimeId);
        return {
          runtimeId: r.runtimeId,
          pluginName: r.pluginName,
          pluginVersion: r.pluginVersion,
          nameProof: nameProofOf(r),
          health: healthName(r.health),
          healthMessage: r.healthMessage,
          startedAt: r.startedAt,
          registrations: registrations
            .filter((g) => g.runtimeId === r.runtimeId)
            .map((g) => ({ registrationId: g.registrationId, serviceType: g.serviceType, version: g.version, endpoint: g.endpoint })),
          launched: launched ? { name: launched.name, pid: launched.pid, state: launched.state, restarts: launched.restarts } : null,
        };
      })
      .sort((a, b) => a.pluginName.localeCompare(b.pluginName) || a.runtimeId.localeCompare(b.runtimeId)),
    services,
    grants,
    audit: sources.audit.list(),
  };
}
