/**
 * `npm run bench` (`tsx bench/run.ts [--quick] [--only saturation,redis,scale] [--rounds N] [--calls N]`): issue 17's instrument.
 *  1. saturation — h2load through direct, a bare node:http2 passthrough, the bench proxy, the Plugboard
 *     router (also with issue 20's fault bookkeeping off, and bridging Connect → gRPC) and nginx grpc_pass,
 *     each proxy alone on one core: calls/s and proxy CPU µs per call (bench/saturation.ts);
 *  2. redis — Redis commands per routed call, single server and a three-primary Cluster (bench/redis-commands.ts);
 *  3. scale — host CPU per admitted runtime, Discover page latency against provider count, a Register's
 *     fan-out to 1000 Watch streams (bench/admission-cost.ts, bench/discover-scale.ts, bench/watch-fanout.ts).
 * Ends with one `gate <name> <value> PASS|MISS` line per target (bench/gates.ts). Always exits 0 when it
 * ran (whatever the numbers); 1 when it could not run. Every child process and temp dir is removed, also on Ctrl-C.
 */
import { cpus } from "node:os";
import { ensureBuilt } from "./built.js";
import { gate, gateLine, type Gate } from "./gates.js";
import { haveH2load } from "./h2load.js";
import { cleanupAll, cleanupOnSignals, pinning } from "./processes.js";
import { pairedRatio, printSaturation, runSaturation, type SaturationOptions } from "./saturation.js";

const quick = process.argv.includes("--quick");
const onlyArg = process.argv.indexOf("--only");
const only = onlyArg >= 0 ? new Set(process.argv[onlyArg + 1]!.split(",")) : undefined;
const wanted = (part: string) => only === undefined || only.has(part);

const numberFlag = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? { [name]: Number(process.argv[i + 1]) } : {};
};
/** `--rounds N` / `--calls N` override the saturation part's (tighter numbers for a helper at work). */
const SATURATION: SaturationOptions = {
  ...(quick ? { rounds: 1, calls: 1_500, warmupCalls: 1_000 } : { rounds: 5, calls: 8_000, warmupCalls: 2_000 }),
  clients: 4,
  streams: 16,
  ...numberFlag("rounds"),
  ...numberFlag("calls"),
};

const REDIS = quick ? { calls: 1_000, warmupCalls: 500 } : { calls: 3_000, warmupCalls: 1_000 };

const SCALE = {
  admission: { runtimes: quick ? 120 : 300, concurrency: 8 },
  discover: { sizes: [10, 1_000, 10_000], samples: quick ? 20 : 50 },
  watch: { watchers: 1_000, rounds: quick ? 3 : 7 },
};

async function main(): Promise<Gate[]> {
  const gates: Gate[] = [];
  console.log(
    `plugboard benchmark${quick ? " (quick)" : ""}: ${cpus().length} cores, ${pinning ? "proxies pinned to core 1, load generator and upstream to core 0 (taskset)" : "no taskset: nothing pinned"}`,
  );

  if (wanted("saturation")) {
    console.log("\n== 1. saturation (h2load)");
    if (!haveH2load()) {
      console.log("skipped: h2load not installed (apt-get install nghttp2-client)");
      gates.push(gate("router-cpu-vs-bare", undefined), gate("router-throughput-vs-bare", undefined));
    } else {
      const rows = await runSaturation(SATURATION);
      printSaturation(rows, SATURATION);
      const [bare, router, off, bridged] = [rows.get("bare"), rows.get("router"), rows.get("router-faults-off"), rows.get("router-bridged")];
      const cpu = (a: typeof bare, b: typeof bare) => pairedRatio(a, b, "cpuUsPerCall");
      const calls = (a: typeof bare, b: typeof bare) => pairedRatio(a, b, "callsPerSec");
      const perRound = (row: typeof bare) => row?.rounds.map((r) => r.cpuUsPerCall?.toFixed(0) ?? "-").join(" ") ?? "-";
      console.log(`proxy CPU µs/call per round: bare ${perRound(bare)}; router ${perRound(router)}`);
      console.log("ratios paired within each round, median over rounds:");
      console.log(`router / bare passthrough: CPU per call ×${cpu(router, bare).toFixed(2)}, throughput ×${calls(router, bare).toFixed(2)}`);
      console.log(`router / bench proxy: CPU per call ×${cpu(router, rows.get("bench-proxy")).toFixed(2)}, throughput ×${calls(router, rows.get("bench-proxy")).toFixed(2)}`);
      console.log(
        `fault bookkeeping (issue 20), router with ejection+leases on / off: CPU per call ×${cpu(router, off).toFixed(2)}, throughput ×${calls(router, off).toFixed(2)}`,
      );
      console.log(`bridged Connect→gRPC / router passthrough: CPU per call ×${cpu(bridged, router).toFixed(2)}, throughput ×${calls(bridged, router).toFixed(2)}`);
      const base = rows.get("router-base");
      if (base && !base.skipped) {
        console.log(`router / router from BENCH_BASE_DIST: CPU per call ×${cpu(router, base).toFixed(2)}, throughput ×${calls(router, base).toFixed(2)}`);
        console.log(`router from BENCH_BASE_DIST / bare passthrough: CPU per call ×${cpu(base, bare).toFixed(2)}, throughput ×${calls(base, bare).toFixed(2)}`);
      }
      gates.push(gate("router-cpu-vs-bare", cpu(router, bare)), gate("router-throughput-vs-bare", calls(router, bare)));
    }
  }

  await cleanupAll(); // each part's processes and dirs go before the next part starts
  partDone();

  if (wanted("redis")) {
    console.log("\n== 2. Redis commands per routed call (steady state; Redis store and Redis rate limiter)");
    const { findRedisServer } = await import("../test/helpers/redis.js");
    if (!findRedisServer()) {
      console.log("skipped: redis-server not installed (apt-get install redis-server)");
      gates.push(gate("redis-commands-per-call", undefined));
    } else {
      const { formatCommands, measureCommandsPerCall } = await import("./redis-commands.js");
      const single = await measureCommandsPerCall("single", REDIS);
      await cleanupAll();
      console.log(formatCommands("one redis-server", single));
      gates.push(gate("redis-commands-per-call", single.sent));
      const { haveRedisCluster } = await import("../test/helpers/redis-topologies.js");
      if (quick) console.log(`${"Redis Cluster, 3 primaries".padEnd(34)}   n/a (not run with --quick)`);
      else if (!haveRedisCluster()) console.log(`${"Redis Cluster, 3 primaries".padEnd(34)}   n/a (redis-cli --cluster missing)`);
      else {
        try {
          console.log(formatCommands("Redis Cluster, 3 primaries (sum)", await measureCommandsPerCall("cluster", REDIS)));
        } catch (e) {
          console.log(`${"Redis Cluster, 3 primaries".padEnd(34)}   n/a (${String(e).split("\n")[0]})`);
        }
      }
    }
  }

  await cleanupAll();
  partDone();

  if (wanted("scale")) {
    console.log("\n== 3. scale curves (host alone on core 1; admission limits raised: every runtime comes from one loopback peer)");
    const { measureAdmission } = await import("./admission-cost.js");
    const admission = await measureAdmission(SCALE.admission);
    await cleanupAll();
    console.log(
      `handshake+register: ${admission.hostCpuUsPerRuntime.toFixed(0)} µs host CPU per runtime (${admission.runtimes} runtimes, ${SCALE.admission.concurrency} at a time, ${admission.runtimesPerSec.toFixed(0)} runtimes/s)`,
    );
    gates.push(gate("admission-host-cpu-us", admission.hostCpuUsPerRuntime));
    const { measureDiscover } = await import("./discover-scale.js");
    const points = await measureDiscover(SCALE.discover);
    await cleanupAll();
    for (const p of points) {
      console.log(
        `Discover first page at ${String(p.providers).padStart(6)} providers: ${p.medianMs.toFixed(2).padStart(7)} ms median, ${p.hostCpuUs.toFixed(0).padStart(6)} µs host CPU (${p.pageItems} items)`,
      );
    }
    const [first, last] = [points[0]!, points.at(-1)!];
    console.log(`Discover page cost at ${last.providers} / at ${first.providers} providers: latency ×${(last.medianMs / first.medianMs).toFixed(1)}, host CPU ×${(last.hostCpuUs / first.hostCpuUs).toFixed(1)} (independent of n: ≈1)`);
    const { measureWatchFanout } = await import("./watch-fanout.js");
    // The gate: raw HTTP/2 watchers (the host's fan-out); then connect-es watchers, bound by their own process.
    const fanout = await measureWatchFanout({ ...SCALE.watch, client: "raw" });
    await cleanupAll();
    const viaConnect = await measureWatchFanout({ ...SCALE.watch, client: "connect" });
    const cpu = (f: typeof fanout) => `CPU per event and stream: host ${f.hostCpuUs.toFixed(1)} µs, watchers ${f.watchersCpuUs.toFixed(1)} µs`;
    console.log(
      `Register seen by ${fanout.watchers} Watch streams: last watcher ${fanout.lastAfterReturnMs.toFixed(1)} ms after Register returned (${fanout.lastAfterSendMs.toFixed(1)} ms after it was sent), median of ${SCALE.watch.rounds}; raw HTTP/2 watchers; ${cpu(fanout)}`,
    );
    console.log(
      `  the same with connect-es watchers (${viaConnect.watchers} client streams in one process, on one core): ${viaConnect.lastAfterReturnMs.toFixed(1)} ms (${viaConnect.lastAfterSendMs.toFixed(1)} ms); ${cpu(viaConnect)}`,
    );
    gates.push(gate("watch-1000-last-ms", fanout.watchers === 1000 ? Math.max(0, fanout.lastAfterReturnMs) : undefined));
  }

  await cleanupAll();
  partDone();
  return gates;
}

let partStarted = performance.now();
/** How long the part took (the budget: the whole run under ~5 minutes on a 2-core machine). */
function partDone(): void {
  const seconds = (performance.now() - partStarted) / 1000;
  if (seconds >= 1) console.log(`(${seconds.toFixed(0)} s)`);
  partStarted = performance.now();
}


cleanupOnSignals();
ensureBuilt();
const started = performance.now();
main()
  .then(
    (gates) => {
      // Last, after every child is gone (nothing of theirs can print after the gates).
      console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s`);
      for (const g of gates) console.log(gateLine(g));
      process.exit(0);
    },
    async (e: unknown) => {
      console.error("bench failed:", e);
      await cleanupAll();
      process.exit(1);
    },
  );
