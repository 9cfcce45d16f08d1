/**
 * `npm run bench` (`tsx bench/run.ts [--quick] [--only saturation,redis,scale]`): issue 17's instrument.
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
import { gate, gateLine, type Gate } from "./gates.js";
import { haveH2load } from "./h2load.js";
import { cleanupAll, pinning } from "./processes.js";
import { printSaturation, runSaturation, type SaturationOptions } from "./saturation.js";

const quick = process.argv.includes("--quick");
const onlyArg = process.argv.indexOf("--only");
const only = onlyArg >= 0 ? new Set(process.argv[onlyArg + 1]!.split(",")) : undefined;
const wanted = (part: string) => only === undefined || only.has(part);

const SATURATION: SaturationOptions = quick
  ? { rounds: 1, calls: 1_500, warmupCalls: 1_000, clients: 4, streams: 16 }
  : { rounds: 5, calls: 4_000, warmupCalls: 3_000, clients: 4, streams: 16 };

const REDIS = quick ? { calls: 1_000, warmupCalls: 500 } : { calls: 3_000, warmupCalls: 1_000 };

async function main(): Promise<void> {
  const started = performance.now();
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
      const bare = rows.get("bare")!;
      const router = rows.get("router")!;
      const off = rows.get("router-faults-off")!;
      const bridged = rows.get("router-bridged")!;
      console.log(
        `router / bare: CPU per call ×${ratio(router.cpuUsPerCall, bare.cpuUsPerCall)}, throughput ×${ratio(router.callsPerSec, bare.callsPerSec)}`,
      );
      console.log(`fault bookkeeping (issue 20), router with ejection+leases on / off: CPU per call ×${ratio(router.cpuUsPerCall, off.cpuUsPerCall)}, throughput ×${ratio(router.callsPerSec, off.callsPerSec)}`);
      console.log(`bridged Connect→gRPC / router passthrough: CPU per call ×${ratio(bridged.cpuUsPerCall, router.cpuUsPerCall)}`);
      gates.push(
        gate("router-cpu-vs-bare", (router.cpuUsPerCall ?? NaN) / (bare.cpuUsPerCall ?? NaN)),
        gate("router-throughput-vs-bare", router.callsPerSec / bare.callsPerSec),
      );
    }
  }

  if (wanted("redis")) {
    console.log("\n== 2. Redis commands per routed call (steady state; Redis store and Redis rate limiter)");
    const { findRedisServer } = await import("../test/helpers/redis.js");
    if (!findRedisServer()) {
      console.log("skipped: redis-server not installed (apt-get install redis-server)");
      gates.push(gate("redis-commands-per-call", undefined));
    } else {
      const { formatCommands, measureCommandsPerCall } = await import("./redis-commands.js");
      const single = await measureCommandsPerCall("single", REDIS);
      console.log(formatCommands("one redis-server", single));
      gates.push(gate("redis-commands-per-call", single.total));
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

  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s`);
  for (const g of gates) console.log(gateLine(g));
}

const ratio = (a: number | undefined, b: number | undefined) => ((a ?? NaN) / (b ?? NaN)).toFixed(2);

main()
  .then(cleanupAll)
  .then(
    () => process.exit(0),
    async (e: unknown) => {
      console.error("bench failed:", e);
      await cleanupAll();
      process.exit(1);
    },
  );
