/**
 * Part 1: one core's worth of proxying. h2load (core 0) drives gRPC unary calls, 64 in flight, through
 * each proxy (alone on core 1) to a cheap upstream (core 0) that answers at once, so the proxy's core
 * is what saturates. Variants are interleaved over rounds (the order rotates) and medians reported:
 * calls/s, mean latency, and the proxy process's CPU µs per call from /proc (utime + stime, all threads).
 */
import { startChild, type Child } from "./children.js";
import { enrolPair, type BenchEnrolment } from "./enrol.js";
import { BENCH_COOKIE } from "./bench-host-options.js";
import { h2load, type CallProtocol, type H2loadResult } from "./h2load.js";
import { keepLease } from "./heartbeat.js";
import { median } from "./load.js";
import { haveNginx, startNginx } from "./nginx.js";
import { onCleanup, processCpuMicros } from "./processes.js";
import { Protocol } from "../gen/plugboard/v1/common_pb.js";

export const SATURATION_VARIANTS = ["direct", "bare", "bench-proxy", "router", "router-base", "router-faults-off", "router-bridged", "nginx"] as const;
export type SaturationVariant = (typeof SATURATION_VARIANTS)[number];

export const VARIANT_LABELS: Record<SaturationVariant, string> = {
  direct: "direct (no proxy)",
  bare: "bare node:http2 passthrough",
  "bench-proxy": "bench proxy (proxy-baseline)",
  router: "Plugboard router",
  "router-base": "router from BENCH_BASE_DIST",
  "router-faults-off": "router, ejection+leases off",
  "router-bridged": "router, Connect→gRPC bridged",
  nginx: "nginx grpc_pass",
};

export interface SaturationRow {
  callsPerSec: number;
  meanMs: number;
  /** Proxy process CPU per call (µs); undefined for direct. */
  cpuUsPerCall?: number;
  /** Each round's numbers, in round order (for ratios paired within a round). */
  rounds: { callsPerSec: number; cpuUsPerCall?: number }[];
  /** Why the row is missing, when it is. */
  skipped?: string;
}

/**
 * a ÷ b paired within each round (the two ran minutes apart at most, under the same machine load),
 * median over rounds: steadier on a shared machine than a ratio of medians.
 */
export function pairedRatio(a: SaturationRow | undefined, b: SaturationRow | undefined, of: "cpuUsPerCall" | "callsPerSec"): number {
  if (!a || !b || a.rounds.length === 0 || a.rounds.length !== b.rounds.length) return NaN;
  return median(a.rounds.map((r, i) => (r[of] ?? NaN) / (b.rounds[i]![of] ?? NaN)));
}

export interface SaturationOptions {
  rounds: number;
  calls: number;
  warmupCalls: number;
  clients: number;
  streams: number;
}

interface Target {
  url: string;
  protocol: CallProtocol;
  token?: string;
  cpu?: () => number;
}

export async function runSaturation(opts: SaturationOptions): Promise<Map<SaturationVariant, SaturationRow>> {
  // BENCH_CPU_PROF=<dir>: a CPU profile of the (default) router host, written when it exits (BENCH_PROF_BARE=1,
  // BENCH_PROF_BASE=1: of the bare passthrough and the BENCH_BASE_DIST router as well).
  const profileDir = process.env["BENCH_CPU_PROF"];
  const profile = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
  const upstream = await child<{ url: string }>("./grpc-upstream.ts", [], 0);
  const targets = new Map<SaturationVariant, Target>();
  const skipped = new Map<SaturationVariant, string>();
  targets.set("direct", { url: upstream.info.url, protocol: "grpc" });
  const [bare, benchProxy, router, faultsOff, bridged] = await Promise.all([
    child<{ url: string }>("./bare-passthrough.ts", [upstream.info.url], 1, process.env["BENCH_PROF_BARE"] ? profile : []),
    child<{ url: string }>("./proxy-baseline.ts", [upstream.info.url], 1),
    child<RouterInfo>("./router-host.ts", [], 1, profile),
    child<RouterInfo>("./router-host.ts", ["--faults-off"], 1),
    child<RouterInfo>("./router-host.ts", [], 1),
  ]);
  // BENCH_BASE_DIST=<dir>: the same router host from another build (before/after in one interleaved run).
  const baseDist = process.env["BENCH_BASE_DIST"];
  if (baseDist) {
    const baseFlags = process.env["BENCH_PROF_BASE"] ? profile : [];
    const base = await startChild<RouterInfo>("./router-host.ts", [], baseFlags, 1, { env: { ...process.env, BENCH_DIST: baseDist } });
    onCleanup(base.stop);
    const tokens = await enrolPair(base.info.url, upstream.info.url, BENCH_COOKIE, base.info.enrolment, undefined);
    onCleanup(keepLease(base.info.url, tokens.provider));
    targets.set("router-base", { url: base.info.url, protocol: "grpc", token: tokens.consumer, cpu: () => processCpuMicros(base.pid) });
  } else skipped.set("router-base", "BENCH_BASE_DIST not set");
  targets.set("bare", { url: bare.info.url, protocol: "grpc", cpu: () => processCpuMicros(bare.pid) });
  targets.set("bench-proxy", { url: benchProxy.info.url, protocol: "grpc", cpu: () => processCpuMicros(benchProxy.pid) });
  for (const [variant, host, protocol, protocols] of [
    ["router", router, "grpc", undefined],
    ["router-faults-off", faultsOff, "grpc", undefined],
    // Registered gRPC-only: the router translates the Connect caller's call.
    ["router-bridged", bridged, "connect", []],
  ] as const) {
    const tokens = await enrolPair(host.info.url, upstream.info.url, BENCH_COOKIE, host.info.enrolment, protocols ? [...protocols] : undefined);
    onCleanup(keepLease(host.info.url, tokens.provider));
    targets.set(variant, { url: host.info.url, protocol, token: tokens.consumer, cpu: () => processCpuMicros(host.pid) });
  }
  if (haveNginx()) {
    try {
      const nginx = await startNginx(upstream.info.url);
      onCleanup(nginx.stop);
      targets.set("nginx", { url: nginx.url, protocol: "grpc", cpu: nginx.cpuMicros });
    } catch (e) {
      skipped.set("nginx", `nginx did not start: ${String(e).split("\n")[0]}`);
    }
  } else skipped.set("nginx", "nginx not installed (apt-get install nginx)");

  const answered = async () => (JSON.parse(await upstream.ask("count")) as { calls: number }).calls;
  const measure = async (variant: SaturationVariant, calls: number): Promise<{ result: H2loadResult; cpuUs?: number }> => {
    const target = targets.get(variant)!;
    const [cpu0, seen0] = [target.cpu?.(), await answered()];
    const result = await h2load({ url: target.url, protocol: target.protocol, calls, clients: opts.clients, streams: opts.streams, ...(target.token ? { token: target.token } : {}) });
    const [cpu1, seen1] = [target.cpu?.(), await answered()];
    // h2load counts HTTP status only (a gRPC error is a 200): the upstream must have answered every call.
    if (seen1 - seen0 !== calls || result.succeeded !== calls) {
      throw new Error(`${variant}: h2load ${result.succeeded}/${calls} succeeded, upstream answered ${seen1 - seen0}`);
    }
    return { result, ...(cpu0 !== undefined && cpu1 !== undefined ? { cpuUs: (cpu1 - cpu0) / calls } : {}) };
  };

  const only = process.env["BENCH_VARIANTS"]?.split(",");
  const variants = SATURATION_VARIANTS.filter((v) => targets.has(v) && (only === undefined || only.includes(v)));
  for (const variant of variants) await measure(variant, opts.warmupCalls); // JIT, sessions, caches
  const samples = new Map<SaturationVariant, { result: H2loadResult; cpuUs?: number }[]>(variants.map((v) => [v, []]));
  for (let round = 0; round < opts.rounds; round++) {
    // Rotate the order each round so no variant always runs first (or right after a GC-heavy one).
    for (let i = 0; i < variants.length; i++) {
      const variant = variants[(i + round) % variants.length]!;
      samples.get(variant)!.push(await measure(variant, opts.calls));
    }
  }
  const rows = new Map<SaturationVariant, SaturationRow>();
  for (const variant of SATURATION_VARIANTS) {
    const s = samples.get(variant);
    if (!s) {
      rows.set(variant, { callsPerSec: NaN, meanMs: NaN, rounds: [], skipped: skipped.get(variant) ?? "not run" });
      continue;
    }
    const cpu = s.flatMap((x) => (x.cpuUs === undefined ? [] : [x.cpuUs]));
    rows.set(variant, {
      callsPerSec: median(s.map((x) => x.result.callsPerSec)),
      meanMs: median(s.map((x) => x.result.meanMs)),
      ...(cpu.length > 0 ? { cpuUsPerCall: median(cpu) } : {}),
      rounds: s.map((x) => ({ callsPerSec: x.result.callsPerSec, ...(x.cpuUs === undefined ? {} : { cpuUsPerCall: x.cpuUs }) })),
    });
  }
  return rows;
}

interface RouterInfo {
  url: string;
  enrolment: BenchEnrolment;
}

async function child<T>(file: string, args: string[], core: 0 | 1, nodeFlags: string[] = []): Promise<Child<T>> {
  const c = await startChild<T>(file, args, nodeFlags, core);
  onCleanup(c.stop);
  return c;
}

export function printSaturation(rows: Map<SaturationVariant, SaturationRow>, opts: SaturationOptions): void {
  console.log(
    `gRPC unary, ${opts.clients * opts.streams} in flight (${opts.clients} connections × ${opts.streams} streams), cheap upstream; ` +
      `${opts.calls} calls × ${opts.rounds} round(s), interleaved, medians`,
  );
  console.log(`${"variant".padEnd(32)}${"calls/s".padStart(9)}${"mean ms".padStart(9)}${"proxy CPU µs/call".padStart(19)}${"core busy".padStart(11)}`);
  for (const [variant, row] of rows) {
    const label = VARIANT_LABELS[variant].padEnd(32);
    if (row.skipped) {
      console.log(`${label}  skipped: ${row.skipped}`);
      continue;
    }
    const cpu = row.cpuUsPerCall === undefined ? "-" : row.cpuUsPerCall.toFixed(0);
    const busy = row.cpuUsPerCall === undefined ? "-" : `${coreBusy(row).toFixed(0)} %`;
    console.log(`${label}${row.callsPerSec.toFixed(0).padStart(9)}${row.meanMs.toFixed(2).padStart(9)}${cpu.padStart(19)}${busy.padStart(11)}`);
  }
  const routerBusy = coreBusy(rows.get("router"));
  const bareBusy = coreBusy(rows.get("bare"));
  if (Math.min(routerBusy, bareBusy) < UNSATURATED_BELOW) {
    console.log(
      `note: the bare passthrough's core was ${bareBusy.toFixed(0)} % busy and the router's ${routerBusy.toFixed(0)} %: below ${UNSATURATED_BELOW} % the ` +
        "proxies were not saturated (the load generator or the machine was the limit), so the throughput ratio measures latency, not one core's capacity; " +
        "CPU per call still compares",
    );
  }
}

/** Below this, a proxy's core was not the bottleneck of its row. */
const UNSATURATED_BELOW = 80;

/** How busy a proxy kept its core, in % (CPU per call × calls per second). */
export function coreBusy(row: SaturationRow | undefined): number {
  return row?.cpuUsPerCall === undefined ? NaN : (row.cpuUsPerCall * row.callsPerSec) / 1e4;
}
