/**
 * The benchmark's measuring pieces, without timings: h2load's summary parsed, /proc CPU read,
 * INFO commandstats deltas, the gate lines' exact shape, the nginx conf; and, when h2load exists,
 * the bare passthrough really forwarding gRPC and Connect calls to the cheap upstream (a few
 * hundred calls, checked by count, never by speed), leaving no process behind.
 */
import { afterAll, describe, expect, it } from "vitest";
import { startChild, type Child } from "../../bench/children.js";
import { GATE_LINE, gate, gateLine, passes } from "../../bench/gates.js";
import { h2load, h2loadArgs, haveH2load, parseH2load } from "../../bench/h2load.js";
import { nginxConf } from "../../bench/nginx.js";
import { cleanupAll, cpuMicrosOfStat, processCpuMicros } from "../../bench/processes.js";
import { commandsPerCall, parseCommandStats } from "../../bench/redis-commands.js";
import { pairedRatio, type SaturationRow } from "../../bench/saturation.js";

const H2LOAD_OUTPUT = `starting benchmark...
Application protocol: h2c
finished in 1.58s, 3172.74 req/s, 195.43KB/s
requests: 5000 total, 5000 started, 5000 done, 4990 succeeded, 10 failed, 10 errored, 0 timeout
status codes: 4990 2xx, 0 3xx, 0 4xx, 10 5xx
traffic: 308.45KB (315850) total, 15.21KB (15578) headers (space savings 95.58%), 156.25KB (160000) data
                     min         max         mean         sd        +/- sd
time for request:      873us     63.56ms     18.33ms     11.51ms    67.00%
time for connect:      109us      1.03ms       385us       430us    75.00%
`;

describe("bench measuring pieces", () => {
  it("parses h2load's rate, counts and mean request time (µs, ms and s units)", () => {
    expect(parseH2load(H2LOAD_OUTPUT)).toEqual({ callsPerSec: 3172.74, done: 5000, succeeded: 4990, failed: 10, meanMs: 18.33 });
    expect(parseH2load(H2LOAD_OUTPUT.replace("18.33ms", "912us")).meanMs).toBeCloseTo(0.912);
    expect(parseH2load(H2LOAD_OUTPUT.replace("finished in 1.58s", "finished in 987.12ms")).callsPerSec).toBe(3172.74);
    expect(() => parseH2load("h2load: connection refused")).toThrow(/cannot parse/);
  });

  it("builds h2load arguments for gRPC (te: trailers) and Connect unary, with the router's bearer token", () => {
    const grpc = h2loadArgs({ url: "http://127.0.0.1:1", protocol: "grpc", calls: 10, clients: 4, streams: 16, token: "pbrt_x" }, "/b");
    expect(grpc).toEqual(expect.arrayContaining(["-n", "10", "-c", "4", "-m", "16", "-d", "/b", "content-type: application/grpc", "te: trailers", "authorization: Bearer pbrt_x"]));
    expect(grpc.at(-1)).toBe("http://127.0.0.1:1/kv.v1.KVService/Get");
    const connect = h2loadArgs({ url: "http://127.0.0.1:1", protocol: "connect", calls: 10, clients: 1, streams: 1 }, "/b");
    expect(connect).toContain("content-type: application/proto");
    expect(connect.join(" ")).not.toMatch(/authorization|te: trailers/);
  });

  it("reads utime + stime from /proc/<pid>/stat, also when the command name holds spaces and parentheses", () => {
    const stat = "1234 (node (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 11 0 5000";
    expect(cpuMicrosOfStat(stat, 10_000)).toBe(3_000_000);
    expect(processCpuMicros(process.pid)).toBeGreaterThan(0);
    expect(processCpuMicros(2 ** 22 + 7)).toBe(0); // no such process
  });

  it("counts a process's CPU time below a clock tick: a 35 ms burn reads as what getrusage saw, within 3 ms (clock ticks would be 5 ms off)", () => {
    const [rusage0, proc0] = [process.cpuUsage(), processCpuMicros(process.pid)];
    const spent = () => {
      const d = process.cpuUsage(rusage0);
      return d.user + d.system;
    };
    while (spent() < 35_000) Math.sqrt(Math.random());
    const [byRusage, byProc] = [spent(), processCpuMicros(process.pid) - proc0];
    expect(Math.abs(byProc - byRusage)).toBeLessThan(3_000);
  });

  it("divides INFO commandstats growth by the calls, without the INFO calls of the measurement", () => {
    const before = parseCommandStats("# Commandstats\r\ncmdstat_evalsha:calls=10,usec=5\r\ncmdstat_info:calls=3,usec=1\r\n");
    const after = parseCommandStats("# Commandstats\r\ncmdstat_evalsha:calls=210,usec=9\r\ncmdstat_get:calls=100,usec=2\r\ncmdstat_info:calls=4,usec=1\r\n");
    const c = commandsPerCall(before, after, 100, new Map([["info", 1]]));
    expect(c.total).toBe(3);
    expect(c.byCommand).toEqual([
      ["evalsha", 2],
      ["get", 1],
    ]);
  });

  it("prints each gate as `gate <name> <value> PASS|MISS` against issue 17's targets; an unmeasured gate MISSes", () => {
    expect(gateLine(gate("router-cpu-vs-bare", 1.1))).toBe("gate router-cpu-vs-bare 1.10 PASS");
    expect(gateLine(gate("router-cpu-vs-bare", 2.07))).toBe("gate router-cpu-vs-bare 2.07 MISS");
    expect(gateLine(gate("router-throughput-vs-bare", 0.89))).toBe("gate router-throughput-vs-bare 0.89 MISS");
    expect(gateLine(gate("redis-commands-per-call", 2))).toBe("gate redis-commands-per-call 2.00 PASS");
    expect(gateLine(gate("admission-host-cpu-us", 1712.4))).toBe("gate admission-host-cpu-us 1712 MISS");
    expect(gateLine(gate("watch-1000-last-ms", 49.9))).toBe("gate watch-1000-last-ms 49.90 PASS");
    expect(passes(gate("watch-1000-last-ms", undefined))).toBe(false);
    for (const g of [gate("router-cpu-vs-bare", 1), gate("admission-host-cpu-us", undefined)]) expect(gateLine(g)).toMatch(GATE_LINE);
  });

  it("pairs the router with the bare passthrough within each round and takes the median of those ratios", () => {
    const row = (cpu: number[]): SaturationRow => ({ callsPerSec: NaN, meanMs: NaN, rounds: cpu.map((c) => ({ callsPerSec: 1000 / c, cpuUsPerCall: c })) });
    // A slow round (machine busy) inflates both: paired, it cancels out.
    const bare = row([100, 300, 110]);
    const router = row([200, 600, 231]);
    expect(pairedRatio(router, bare, "cpuUsPerCall")).toBe(2);
    expect(pairedRatio(router, bare, "callsPerSec")).toBe(0.5);
    expect(pairedRatio(router, row([100]), "cpuUsPerCall")).toBeNaN(); // rounds do not pair
    expect(pairedRatio(undefined, bare, "cpuUsPerCall")).toBeNaN();
  });

  it("writes an nginx conf that serves h2c and grpc_passes to the upstream, with every path inside its prefix", () => {
    const conf = nginxConf("/tmp/pfx", 8443, 9000);
    expect(conf).toMatch(/listen 127\.0\.0\.1:8443 http2;/);
    expect(conf).toMatch(/server 127\.0\.0\.1:9000;/);
    expect(conf).toMatch(/grpc_pass grpc:\/\/provider;/);
    // h2load keeps its connections for the whole run: the server's own 1000-request default would end them.
    expect(conf).toMatch(/server \{[^}]*keepalive_requests 1000000;/);
    for (const path of conf.match(/\/\S+/g)!.filter((p) => p.startsWith("/tmp") || p.startsWith("/var"))) expect(path.startsWith("/tmp/pfx/")).toBe(true);
  });
});

describe.runIf(haveH2load())("bare passthrough and cheap upstream under h2load (counts only)", () => {
  const children: Child<{ url: string }>[] = [];
  afterAll(cleanupAll);

  it("forwards every gRPC and Connect unary call, and its processes are gone after clean-up", async () => {
    const upstream = await startChild<{ url: string }>("./grpc-upstream.ts", []);
    children.push(upstream);
    const bare = await startChild<{ url: string }>("./bare-passthrough.ts", [upstream.info.url]);
    children.push(bare);
    for (const protocol of ["grpc", "connect"] as const) {
      const result = await h2load({ url: bare.info.url, protocol, calls: 200, clients: 2, streams: 8 }, 20_000);
      expect(result.succeeded).toBe(200);
    }
    expect(JSON.parse(await upstream.ask("count"))).toEqual({ calls: 400 });
    await Promise.all(children.map((c) => c.stop()));
    const groupAlive = (pid: number) => {
      try {
        process.kill(-pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (const c of children) expect(groupAlive(c.pid)).toBe(false);
  });
});
