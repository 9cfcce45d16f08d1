import { KVService } from "../gen/kv/v1/kv_pb.js";
import { startChild, type Child } from "./children.js";
import { enrolPair, type BenchEnrolment } from "./enrol.js";
import { keepLease } from "./heartbeat.js";
import { BENCH_COOKIE } from "./bench-host-options.js";
import { LIST_MESSAGES } from "./kv-provider.js";
import { kvClient, median, runLoad, type LoadResult, type LoadShape, type Workload } from "./load.js";

/**
 * `npx tsx bench/connect-clients.ts [--quick]` (latency rows; `npm run bench` is bench/run.ts): the same KV provider reached three ways —
 * direct, through the bare passthrough proxy, and through a real plugin host's router — under
 * unary (concurrency 1 and 32) and server-stream load. Variants are interleaved over rounds and
 * the median round is reported, with router/bare-proxy and bare-proxy/direct ratios.
 * `BENCH_CPU_PROF=<dir>` writes a CPU profile of the proxy/host child there.
 * Exits 0 whatever the numbers: targets are reported, not enforced.
 */

/** router-bridged: the router translating Connect callers to a provider registered as gRPC-only (a row, no target). */
const VARIANTS = ["direct", "bare-proxy", "router", "router-bridged"] as const;
type Variant = (typeof VARIANTS)[number];
const WORKLOADS: Workload[] = ["unary-c1", "unary-c32", "stream"];

const quick = process.argv.includes("--quick");
const ROUNDS = quick ? 1 : 5;
const SHAPES: Record<Workload, LoadShape> = quick
  ? { "unary-c1": { calls: 200, concurrency: 1 }, "unary-c32": { calls: 640, concurrency: 32 }, stream: { calls: 20, concurrency: 4 } }
  : { "unary-c1": { calls: 400, concurrency: 1 }, "unary-c32": { calls: 1600, concurrency: 32 }, stream: { calls: 40, concurrency: 4 } };
const WARMUP: Record<Workload, LoadShape> = quick
  ? { "unary-c1": { calls: 100, concurrency: 1 }, "unary-c32": { calls: 320, concurrency: 32 }, stream: { calls: 8, concurrency: 4 } }
  : { "unary-c1": { calls: 500, concurrency: 1 }, "unary-c32": { calls: 3000, concurrency: 32 }, stream: { calls: 60, concurrency: 4 } };

/** Targets for the router against the bare proxy. */
const MIN_THROUGHPUT_RATIO = 0.95;
const MAX_P50_DELTA_MS = 0.05;

async function main(): Promise<void> {
  const started = performance.now();
  const profileDir = process.env["BENCH_CPU_PROF"];
  const provider = await startChild<{ providerUrl: string }>("./kv-provider.ts", []);
  const front = await startChild<{ proxyUrl: string; hostUrl: string; enrolment: BenchEnrolment; bridgeHostUrl: string; bridgeEnrolment: BenchEnrolment }>(
    "./front.ts",
    [provider.info.providerUrl],
    profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [],
  );
  const clients: Record<Variant, ReturnType<typeof kvClient>> = {} as never;
  const leases: (() => void)[] = [];
  try {
    // Leases are on (the host default): the provider's registrations are renewed as the SDK would.
    const tokens = await enrolPair(front.info.hostUrl, provider.info.providerUrl, BENCH_COOKIE, front.info.enrolment);
    const token = tokens.consumer;
    leases.push(keepLease(front.info.hostUrl, tokens.provider));
    clients.direct = kvClient(provider.info.providerUrl, undefined);
    clients["bare-proxy"] = kvClient(front.info.proxyUrl, undefined);
    clients.router = kvClient(front.info.hostUrl, token);
    const bridged = await enrolPair(front.info.bridgeHostUrl, provider.info.providerUrl, BENCH_COOKIE, front.info.bridgeEnrolment, []);
    const bridgedToken = bridged.consumer;
    leases.push(keepLease(front.info.bridgeHostUrl, bridged.provider));
    clients["router-bridged"] = kvClient(front.info.bridgeHostUrl, bridgedToken);

    console.log(`plugboard router benchmark${quick ? " (quick)" : ""}: ${KVService.typeName}, ${ROUNDS} round(s), median reported`);
    for (const workload of WORKLOADS) {
      for (const variant of VARIANTS) await runLoad(clients[variant].kv, workload, WARMUP[workload], LIST_MESSAGES);
    }

    const results = new Map<string, Measured[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const workload of WORKLOADS) {
        // Rotate the order each round so no variant always runs first (or right after a GC-heavy one).
        for (let i = 0; i < VARIANTS.length; i++) {
          const variant = VARIANTS[(i + round) % VARIANTS.length]!;
          const cpuBefore = variant === "direct" ? 0 : await cpuMicros(front);
          const r: Measured = await runLoad(clients[variant].kv, workload, SHAPES[workload], LIST_MESSAGES);
          if (variant !== "direct") r.proxyCpuUs = ((await cpuMicros(front)) - cpuBefore) / SHAPES[workload].calls;
          const key = `${workload}/${variant}`;
          results.set(key, [...(results.get(key) ?? []), r]);
        }
      }
    }
    report(results);
    console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    for (const stop of leases) stop();
    for (const c of Object.values(clients)) c.close();
    await Promise.all([front.stop(), provider.stop()]);
  }
}

/** A run, plus the proxy child's CPU time per call (bare proxy and router only). */
type Measured = LoadResult & { proxyCpuUs?: number };

async function cpuMicros(front: Child<unknown>): Promise<number> {
  return (JSON.parse(await front.ask("cpu")) as { cpuMicros: number }).cpuMicros;
}

function medianOf(runs: Measured[]): Measured {
  const cpu = runs.flatMap((r) => (r.proxyCpuUs === undefined ? [] : [r.proxyCpuUs]));
  return {
    throughput: median(runs.map((r) => r.throughput)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    ...(cpu.length > 0 ? { proxyCpuUs: median(cpu) } : {}),
  };
}

function report(results: Map<string, Measured[]>): void {
  const pad = (s: string, n: number) => s.padEnd(n);
  const num = (n: number, digits: number) => n.toFixed(digits).padStart(10);
  console.log("");
  console.log(
    `${pad("workload", 11)}${pad("variant", 15)}${"throughput".padStart(12)} ${pad("unit", 8)}${"p50 ms".padStart(10)}${"p99 ms".padStart(10)}${"proxy CPU µs/call".padStart(19)}`,
  );
  const med = new Map<string, Measured>();
  for (const workload of WORKLOADS) {
    for (const variant of VARIANTS) {
      const m = medianOf(results.get(`${workload}/${variant}`) ?? []);
      med.set(`${workload}/${variant}`, m);
      const unit = workload === "stream" ? "msg/s" : "calls/s";
      const cpu = m.proxyCpuUs === undefined ? "-" : m.proxyCpuUs.toFixed(1);
      console.log(`${pad(workload, 11)}${pad(variant, 15)}${num(m.throughput, 0).padStart(12)} ${pad(unit, 8)}${num(m.p50, 3)}${num(m.p99, 3)}${cpu.padStart(19)}`);
    }
  }
  console.log("");
  let misses = 0;
  for (const workload of WORKLOADS) {
    const direct = med.get(`${workload}/direct`)!;
    const bare = med.get(`${workload}/bare-proxy`)!;
    const router = med.get(`${workload}/router`)!;
    const ratio = router.throughput / bare.throughput;
    const delta = router.p50 - bare.p50;
    const tpOk = ratio >= MIN_THROUGHPUT_RATIO;
    const p50Ok = delta <= MAX_P50_DELTA_MS;
    if (!tpOk) misses++;
    if (!p50Ok) misses++;
    console.log(
      `ratio ${workload} router/bare-proxy: throughput ${(ratio * 100).toFixed(1)}% [${tpOk ? "PASS" : "MISS"} >= ${MIN_THROUGHPUT_RATIO * 100}%], ` +
        `p50 ${signed(delta)} ms [${p50Ok ? "PASS" : "MISS"} <= +${MAX_P50_DELTA_MS} ms], ` +
        `proxy CPU ${signed((router.proxyCpuUs ?? NaN) - (bare.proxyCpuUs ?? NaN), 1)} µs/call`,
    );
    const bridged = med.get(`${workload}/router-bridged`)!;
    console.log(
      `ratio ${workload} router-bridged/router (Connect → gRPC translation): throughput ${((bridged.throughput / router.throughput) * 100).toFixed(1)}%, ` +
        `p50 ${signed(bridged.p50 - router.p50)} ms, proxy CPU ${signed((bridged.proxyCpuUs ?? NaN) - (router.proxyCpuUs ?? NaN), 1)} µs/call`,
    );
    console.log(
      `ratio ${workload} bare-proxy/direct: throughput ${((bare.throughput / direct.throughput) * 100).toFixed(1)}%, p50 ${signed(bare.p50 - direct.p50)} ms`,
    );
  }
  console.log(misses === 0 ? "targets: all PASS" : `targets: ${misses} MISS`);
}

const signed = (n: number, digits = 3) => `${n >= 0 ? "+" : ""}${n.toFixed(digits)}`;

/** Second part: the same router over the Redis store and limiter, against memory, when redis-server exists. */
async function redisPart(): Promise<void> {
  if (quick || process.argv.includes("--no-redis")) return;
  const { findRedisServer } = await import("../test/helpers/redis.js");
  if (!findRedisServer() && !process.env["REDIS_URL"]) {
    console.log("\nredis-vs-memory: skipped (no redis-server on PATH and no REDIS_URL)");
    return;
  }
  console.log("");
  const { run } = await import("./redis-vs-memory.js");
  await run({ calls: 2_000, rounds: 3 });
}

main().then(redisPart).then(
  () => process.exit(0),
  (e: unknown) => {
    console.error("bench failed:", e);
    process.exit(1);
  },
);
