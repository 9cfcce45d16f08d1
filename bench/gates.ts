/**
 * Issue 17's targets as the run's last lines, exactly `gate <name> <value> PASS|MISS`. A value that
 * could not be measured is printed as NaN and MISSes: a gate never passes by default.
 */
export interface Gate {
  name: "router-cpu-vs-bare" | "router-throughput-vs-bare" | "redis-commands-per-call" | "admission-host-cpu-us" | "watch-1000-last-ms";
  value: number;
  /** The value passes when it is at most (`max`) or at least (`min`) the target. */
  max?: number;
  min?: number;
}

export const GATE_TARGETS: Record<Gate["name"], { max?: number; min?: number }> = {
  "router-cpu-vs-bare": { max: 1.1 },
  "router-throughput-vs-bare": { min: 0.9 },
  "redis-commands-per-call": { max: 2 },
  "admission-host-cpu-us": { max: 300 },
  "watch-1000-last-ms": { max: 50 },
};

export function gate(name: Gate["name"], value: number | undefined): Gate {
  return { name, value: value ?? NaN, ...GATE_TARGETS[name] };
}

export function passes(g: Gate): boolean {
  if (!Number.isFinite(g.value)) return false;
  return (g.max === undefined || g.value <= g.max) && (g.min === undefined || g.value >= g.min);
}

export function gateLine(g: Gate): string {
  const digits = Math.abs(g.value) >= 100 ? 0 : 2;
  return `gate ${g.name} ${Number.isFinite(g.value) ? g.value.toFixed(digits) : "NaN"} ${passes(g) ? "PASS" : "MISS"}`;
}

export const GATE_LINE = /^gate (router-cpu-vs-bare|router-throughput-vs-bare|redis-commands-per-call|admission-host-cpu-us|watch-1000-last-ms) (-?[\d.]+|NaN) (PASS|MISS)$/;
