import { Counter, Gauge, type Registry } from "prom-client";

/**
 * Passive outlier ejection (after Envoy's outlier detection): providers are judged by the calls
 * routed to them, with no probe needed. A hard failure — connect error, refused stream, reset: the
 * provider's process or connection is gone — takes it out of rotation at once; `consecutiveFailures`
 * failures in a row (hard, or the provider answering Unavailable) eject it for
 * baseEjectionMs × times ejected (capped at maxEjectionMs). When its time is up it gets trial calls
 * again: one success brings it back, one failure ejects it again for longer.
 */
export interface OutlierEjectionOptions {
  /** Failures in a row that eject a provider. Default 5. */
  consecutiveFailures?: number;
  /** First ejection's length; the n-th lasts n × this. Default 30 s. */
  baseEjectionMs?: number;
  /** Longest ejection. Default 300 s. */
  maxEjectionMs?: number;
  /** Most of a service's providers (percent) that may be out of rotation at once; at least one always stays. Default 50. */
  maxEjectedPercent?: number;
  /** Out of rotation after a hard failure, before a trial (a restarted provider is back this soon). Default 1 s. */
  hardFailureHoldMs?: number;
}

export const DEFAULT_OUTLIER_EJECTION: Required<OutlierEjectionOptions> = {
  consecutiveFailures: 5,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  maxEjectedPercent: 50,
  hardFailureHoldMs: 1_000,
};

export interface EjectionEvent {
  runtimeId: string;
  /** "hard failure" or "N consecutive failures". */
  reason: string;
  durationMs: number;
  timesEjected: number;
}

export interface OutlierDetector {
  /** A call to the provider failed: `hard` for connect error / refused stream / reset. */
  failure(runtimeId: string, hard: boolean): void;
  /** A call to the provider completed (whatever its status, short of Unavailable). */
  success(runtimeId: string): void;
  /** The candidates minus those out of rotation, within the cap. The same array when none is out. */
  filter<T extends { runtimeId: string }>(candidates: T[]): T[];
  /** Providers out of rotation now (gauge). */
  ejectedCount(): number;
  /** Ejections so far (counter). */
  ejectionsTotal(): number;
}

interface State {
  consecutive: number;
  /** Out of rotation until then (0: in rotation). After it passes, calls are trials. */
  until: number;
  times: number;
}

/** Provider states are kept only for providers that failed; the healthy path is one Map lookup. */
export function createOutlierDetector(
  options: OutlierEjectionOptions = {},
  hooks: { onEject?(e: EjectionEvent): void; onRestore?(runtimeId: string): void; now?: () => number } = {},
): OutlierDetector {
  const o = { ...DEFAULT_OUTLIER_EJECTION, ...options };
  for (const [name, v] of Object.entries(o)) {
    if (!(Number.isFinite(v) && v > 0)) throw new Error(`outlierEjection.${name} must be a positive number`);
  }
  if (!Number.isInteger(o.consecutiveFailures)) throw new Error("outlierEjection.consecutiveFailures must be an integer");
  if (o.maxEjectedPercent > 100) throw new Error("outlierEjection.maxEjectedPercent must be at most 100");
  const now = hooks.now ?? (() => performance.now());
  const states = new Map<string, State>();
  let out = 0;
  let total = 0;

  function eject(runtimeId: string, s: State, reason: string, full: boolean, t: number): void {
    if (s.until === 0) out++;
    if (full) s.times++;
    const durationMs = full ? Math.min(o.maxEjectionMs, o.baseEjectionMs * s.times) : o.hardFailureHoldMs;
    s.until = t + durationMs;
    total++;
    hooks.onEject?.({ runtimeId, reason, durationMs, timesEjected: s.times });
  }

  return {
    failure(runtimeId, hard) {
      let s = states.get(runtimeId);
      if (s === undefined) states.set(runtimeId, (s = { consecutive: 0, until: 0, times: 0 }));
      s.consecutive++;
      const t = now();
      // Already out: these are calls that were in flight when it failed.
      if (s.until > t) return;
      if (s.until !== 0) eject(runtimeId, s, "failed its trial call", true, t);
      else if (s.consecutive >= o.consecutiveFailures) eject(runtimeId, s, `${s.consecutive} consecutive failures`, true, t);
      else if (hard) eject(runtimeId, s, "connection failed", false, t);
    },
    success(runtimeId) {
      if (states.size === 0) return;
      const s = states.get(runtimeId);
      if (s === undefined) return;
      states.delete(runtimeId);
      if (s.until !== 0) {
        out--;
        hooks.onRestore?.(runtimeId);
      }
    },
    filter<C extends { runtimeId: string }>(candidates: C[]): C[] {
      if (out === 0 || candidates.length < 2) return candidates;
      const t = now();
      let kept: C[] | undefined;
      let removed = 0;
      const allowed = Math.min(candidates.length - 1, Math.max(1, Math.floor((candidates.length * o.maxEjectedPercent) / 100)));
      for (let i = 0; i < candidates.length; i++) {
        const c = candidates[i]!;
        const s = states.get(c.runtimeId);
        const isOut = s !== undefined && s.until > t && removed < allowed;
        if (isOut) {
          removed++;
          kept ??= candidates.slice(0, i);
        } else kept?.push(c);
      }
      return kept ?? candidates;
    },
    ejectedCount: () => out,
    ejectionsTotal: () => total,
  };
}

/** plugboard_provider_ejections_total and plugboard_providers_ejected, read at scrape time. */
export function exportOutlierMetrics(registry: Registry, detector: OutlierDetector, prefix = "plugboard_"): void {
  new Counter({
    name: `${prefix}provider_ejections_total`,
    help: "Providers taken out of rotation by passive outlier ejection",
    registers: [registry],
    collect() {
      this.reset();
      const v = detector.ejectionsTotal();
      if (v > 0) this.inc(v);
    },
  });
  new Gauge({
    name: `${prefix}providers_ejected`,
    help: "Providers out of rotation now (outlier ejection; trials pending)",
    registers: [registry],
    collect() {
      this.set(detector.ejectedCount());
    },
  });
}
