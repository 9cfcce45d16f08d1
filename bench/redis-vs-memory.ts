/**
 * Router throughput with shared state vs in-memory state, measured in the same run:
 * routed unary calls (concurrency 16, a fixed count) through a host using the Redis store and
 * Redis rate limiter, and through a host using the memory store and memory limiter.
 *   npx tsx bench/redis-vs-memory.ts [--calls 4000] [--rounds 3] [--cluster]   (REDIS_URL=... to use your own Redis)
 * --cluster adds a third variant on a private three-primary Redis Cluster (redis-cli --cluster create).
 * Each host runs in its own child process; the KV provider and the load run here. Rounds alternate
 * the variants; the median round is reported. `run()` returns the numbers for bench/run.ts.
 */
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { createClient, type Client } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { Redis } from "ioredis";
import { KVService } from "../gen/kv/v1/kv_pb.js";
import { HandshakeService } from "../gen/plugboard/v1/handshake_pb.js";
import { RegistryService } from "../gen/plugboard/v1/registry_pb.js";
import { startChild } from "./children.js";
import { keepLease } from "./heartbeat.js";
import type { BenchEnrolment } from "./enrol.js";
import { BENCH_REDIS_COOKIE } from "./redis-vs-memory-host.js";

export interface VariantResult {
  callsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

export interface RedisVsMemoryResult {
  calls: number;
  concurrency: number;
  rounds: number;
  memory: VariantResult;
  redis: VariantResult;
  /** With `cluster`: the same on a three-primary Redis Cluster. */
  cluster?: VariantResult;
  /** Redis commands per routed call on the Cluster (all nodes' total_commands_processed). */
  clusterCommandsPerCall?: number;
  /** redis calls/s ÷ memory calls/s. */
  throughputRatio: number;
  /** Redis commands per routed call (INFO total_commands_processed over the measured Redis rounds): stable where timings are noisy. */
  redisCommandsPerCall: number;
}

export interface RunOptions {
  calls?: number;
  concurrency?: number;
  rounds?: number;
  /** Use this Redis instead of starting a private redis-server. */
  redisUrl?: string;
  /** Also measure on a private three-primary Redis Cluster. */
  cluster?: boolean;
  /** Print the table (default true). */
  print?: boolean;
}

type Variant = "memory" | "redis" | "cluster";

export async function run(options: RunOptions = {}): Promise<RedisVsMemoryResult> {
  const calls = options.calls ?? 4_000;
  const concurrency = options.concurrency ?? 16;
  const rounds = options.rounds ?? 3;
  const cleanups: (() => Promise<void> | void)[] = [];
  try {
    let redisUrl = options.redisUrl ?? process.env["REDIS_URL"];
    if (!redisUrl) {
      // A private, non-persistent redis-server on a free loopback port (the tests' helper).
      const { startRedis } = await import("../test/helpers/redis.js");
      const redis = await startRedis();
      cleanups.push(() => redis.stop());
      redisUrl = redis.url;
    }
    const VARIANTS: Variant[] = options.cluster ? ["memory", "redis", "cluster"] : ["memory", "redis"];
    let clusterPorts: number[] = [];
    if (options.cluster) {
      const { startRedisCluster } = await import("../test/helpers/redis-topologies.js");
      const cluster = await startRedisCluster();
      cleanups.push(() => cluster.stop());
      clusterPorts = cluster.nodes.map((n) => n.port);
    }
    const provider = await startProvider();
    cleanups.push(provider.close);
    const hosts = {} as Record<Variant, string>;
    const enrolments = {} as Record<Variant, BenchEnrolment>;
    for (const variant of VARIANTS) {
      const args =
        variant === "memory" ? ["memory"] : variant === "redis" ? ["redis", redisUrl] : ["cluster", ...clusterPorts.map((p) => `127.0.0.1:${p}`)];
      const child = await startHostChild(args);
      cleanups.push(child.stop);
      hosts[variant] = child.url;
      enrolments[variant] = child.enrolment;
    }
    const clients = {} as Record<Variant, Client<typeof KVService>>;
    for (const variant of VARIANTS) {
      const { consumer: token, provider: providerToken } = await enrol(hosts[variant], provider.url, enrolments[variant]);
      // Leases are on (the host default): renewed as the SDK would, however long the rounds take.
      cleanups.push(keepLease(hosts[variant], providerToken));
      const c = kvClient(hosts[variant], token);
      cleanups.push(c.close);
      clients[variant] = c.kv;
      await load(c.kv, Math.min(1_000, calls), concurrency); // warm-up: JIT, sessions, Redis connections
    }
    const stats = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    cleanups.push(() => void stats.disconnect());
    const nodeStats = clusterPorts.map((port) => new Redis(port, "127.0.0.1", { maxRetriesPerRequest: 1 }));
    cleanups.push(() => nodeStats.forEach((c) => c.disconnect()));
    const processed = async (c: Redis) => Number(/total_commands_processed:(\d+)/.exec(await c.info("stats"))?.[1] ?? NaN);
    // Each INFO we send is counted too: subtract them.
    const commandsProcessed = async (variant: Variant) =>
      variant === "redis" ? await processed(stats) : (await Promise.all(nodeStats.map(processed))).reduce((a, b) => a + b, 0);
    const commands: Record<Variant, number> = { memory: 0, redis: 0, cluster: 0 };
    const runs: Record<Variant, VariantResult[]> = { memory: [], redis: [], cluster: [] };
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
      for (const variant of order) {
        const counted = variant !== "memory";
        const before = counted ? await commandsProcessed(variant) : 0;
        runs[variant].push(await load(clients[variant], calls, concurrency));
        if (counted) commands[variant] += (await commandsProcessed(variant)) - before - (variant === "redis" ? 1 : nodeStats.length);
      }
    }
    const memory = medianRun(runs.memory);
    const redis = medianRun(runs.redis);
    const result = {
      calls,
      concurrency,
      rounds,
      memory,
      redis,
      throughputRatio: redis.callsPerSec / memory.callsPerSec,
      redisCommandsPerCall: commands.redis / (calls * rounds),
      ...(options.cluster ? { cluster: medianRun(runs.cluster), clusterCommandsPerCall: commands.cluster / (calls * rounds) } : {}),
    };
    if (options.print ?? true) print(result);
    return result;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

function print(r: RedisVsMemoryResult): void {
  const row = (name: string, v: VariantResult) =>
    `${name.padEnd(22)}${v.callsPerSec.toFixed(0).padStart(10)}${v.p50Ms.toFixed(2).padStart(10)}${v.p99Ms.toFixed(2).padStart(10)}`;
  console.log(`routed unary calls, concurrency ${r.concurrency}, ${r.calls} calls × ${r.rounds} rounds (median round)`);
  console.log(`${"variant".padEnd(22)}${"calls/s".padStart(10)}${"p50 ms".padStart(10)}${"p99 ms".padStart(10)}`);
  console.log(row("memory store+limiter", r.memory));
  console.log(row("redis store+limiter", r.redis));
  if (r.cluster) console.log(row("cluster store+limiter", r.cluster));
  console.log(`redis/memory throughput ratio: ${r.throughputRatio.toFixed(2)}  (p50 ×${(r.redis.p50Ms / r.memory.p50Ms).toFixed(2)})`);
  console.log(`Redis commands per routed call: ${r.redisCommandsPerCall.toFixed(2)}`);
  if (r.clusterCommandsPerCall !== undefined) console.log(`Redis Cluster commands per routed call: ${r.clusterCommandsPerCall.toFixed(2)}`);
}

function medianRun(runs: VariantResult[]): VariantResult {
  const sorted = [...runs].sort((a, b) => a.callsPerSec - b.callsPerSec);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** `calls` Get calls with `concurrency` in flight, each timed. */
async function load(kv: Client<typeof KVService>, calls: number, concurrency: number): Promise<VariantResult> {
  const latencies = new Float64Array(calls);
  let next = 0;
  const worker = async () => {
    while (next < calls) {
      const i = next++;
      const t0 = performance.now();
      const res = await kv.get({ key: "bench" });
      if (!res.found) throw new Error("provider did not answer");
      latencies[i] = performance.now() - t0;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort();
  const at = (q: number) => latencies[Math.min(calls - 1, Math.max(0, Math.ceil(q * calls) - 1))]!;
  return { callsPerSec: calls / seconds, p50Ms: at(0.5), p99Ms: at(0.99) };
}

/** A KVService answering from constants, checking nothing: both variants reach the same provider. */
async function startProvider(): Promise<{ url: string; close(): Promise<void> }> {
  const value = new Uint8Array(16).fill(7);
  const server = http2.createServer(connectNodeAdapter({ routes: (r) => r.service(KVService, { get: (req) => ({ key: req.key, value, found: true }) }) }));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The bench host in its own process (bench/redis-vs-memory-host.ts prints `{"url"}` first). */
async function startHostChild(args: string[]): Promise<{ url: string; enrolment: BenchEnrolment; stop(): Promise<void> }> {
  const child = await startChild<{ url: string; enrolment: BenchEnrolment }>("./redis-vs-memory-host.ts", args);
  return { url: child.info.url, enrolment: child.info.enrolment, stop: () => child.stop() };
}

/** The provider handshakes and registers; the consumer handshakes requiring KVService. Returns both runtime tokens. */
async function enrol(hostUrl: string, providerUrl: string, tokens: BenchEnrolment): Promise<{ consumer: string; provider: string }> {
  const sessionManager = new Http2SessionManager(hostUrl);
  try {
    const transport = createConnectTransport({ baseUrl: hostUrl, httpVersion: "2", sessionManager });
    const handshake = createClient(HandshakeService, transport);
    const common = {
      magicCookieKey: BENCH_REDIS_COOKIE.key,
      magicCookieValue: BENCH_REDIS_COOKIE.value,
      coreProtocolVersion: 1,
      appProtocolRanges: ["^1.0.0"],
      pluginVersion: "1.0.0",
    };
    const provider = await handshake.handshake({ ...common, pluginName: "kv", provides: [{ type: KVService.typeName, version: "1.0.0" }], baseUrl: providerUrl, enrolmentToken: tokens.kv });
    await createClient(RegistryService, transport).register(
      { serviceType: KVService.typeName },
      { headers: { authorization: `Bearer ${provider.runtimeToken}` } },
    );
    const consumer = await handshake.handshake({ ...common, pluginName: "consumer", requires: [{ type: KVService.typeName, versionRange: "^1.0.0" }], enrolmentToken: tokens.consumer });
    return { consumer: consumer.runtimeToken, provider: provider.runtimeToken };
  } finally {
    sessionManager.abort();
  }
}

function kvClient(baseUrl: string, token: string): { kv: Client<typeof KVService>; close(): void } {
  const sessionManager = new Http2SessionManager(baseUrl);
  const transport = createConnectTransport({
    baseUrl,
    httpVersion: "2",
    sessionManager,
    interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req))],
  });
  return { kv: createClient(KVService, transport), close: () => sessionManager.abort() };
}

function flag(name: string): number | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : undefined;
}

if (process.argv[1]?.endsWith("redis-vs-memory.ts")) {
  const calls = flag("calls");
  const rounds = flag("rounds");
  await run({ ...(calls ? { calls } : {}), ...(rounds ? { rounds } : {}), cluster: process.argv.includes("--cluster") });
}
