import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";

/**
 * Router hot-path probe (issue 17): routed gRPC unary calls against a bare node:http2 passthrough,
 * both pinned to one core (`taskset -c 1`), driven by h2load at 64 in flight with a cheap raw-http2
 * gRPC upstream. Prints, per variant, median calls/s and proxy CPU µs per call (from /proc/<pid>/stat)
 * over interleaved rounds, and the router/bare ratios.
 *
 * Usage: `tsx bench/hot-path-probe.ts [rounds=5] [calls=10000]`; PROBE_CPU_PROF=<dir> profiles the host;
 * PROBE_BASE=<checkout> adds a "base" variant: the same host built from another checkout's sources.
 * Needs h2load (Debian nghttp2-client) and taskset.
 */

const SELF = fileURLToPath(import.meta.url);
/** KV GetRequest { key: "bench" } in one gRPC frame. */
const REQUEST = Buffer.from([0, 0, 0, 0, 7, 0x0a, 5, ...Buffer.from("bench")]);
/** KV GetResponse { key: "bench", found: true } in one gRPC frame. */
const RESPONSE = Buffer.from([0, 0, 0, 0, 9, 0x0a, 5, ...Buffer.from("bench"), 0x18, 1]);

function printJson(value: unknown): void {
  console.log(JSON.stringify(value));
}

/** A cheap gRPC upstream on the raw stream API: one fixed answer per call. */
async function upstream(): Promise<void> {
  let served = 0;
  // "count" on stdin answers the calls answered so far: h2load sees only HTTP 200, not grpc-status.
  createInterface({ input: process.stdin }).on("line", () => printJson({ served }));
  const server = http2.createServer();
  server.on("stream", (stream: http2.ServerHttp2Stream) => {
    served++;
    stream.on("data", () => undefined);
    stream.on("end", () => {
      if (stream.destroyed) return;
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(RESPONSE);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  printJson({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
}

/** The bare node:http2 passthrough: raw streams, one pooled session, headers/bytes/trailers piped. */
async function bare(upstreamUrl: string): Promise<void> {
  const session = http2.connect(upstreamUrl);
  const authority = new URL(upstreamUrl).host;
  const server = http2.createServer();
  server.on("stream", (stream: http2.ServerHttp2Stream, headers) => {
    const out: http2.OutgoingHttpHeaders = {};
    for (const name in headers) if (name[0] !== ":") out[name] = headers[name];
    out[":method"] = headers[":method"];
    out[":path"] = headers[":path"];
    out[":authority"] = authority;
    out[":scheme"] = "http";
    const up = session.request(out);
    let trailers: http2.OutgoingHttpHeaders = {};
    stream.pipe(up);
    up.on("response", (h) => {
      const { ":status": status, ...rest } = h;
      stream.respond({ ":status": status, ...rest }, { waitForTrailers: true });
      up.pipe(stream);
    });
    up.on("trailers", (t) => (trailers = t));
    stream.on("wantTrailers", () => stream.sendTrailers(trailers));
    stream.on("close", () => up.close());
    up.on("error", () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
    stream.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  printJson({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
}

/** A plugin host with token auth, declared deps and a rate limit that never refuses; KV registered at `upstreamUrl`. */
async function host(upstreamUrl: string, root: string | undefined): Promise<void> {
  // `root`: another checkout's sources (PROBE_BASE), to compare a change with its base in one run.
  const from = (file: string) => (root === undefined ? new URL(`../${file}`, import.meta.url) : pathToFileURL(join(root, file))).href;
  const { createPluginHost } = (await import(from("src/host/create.js"))) as typeof import("../src/host/create.js");
  const { silentLogger } = (await import(from("src/log/logger.js"))) as typeof import("../src/log/logger.js");
  const { enrol, enrolmentTokens } = (await import(from("bench/enrol.js"))) as typeof import("./enrol.js");
  const cookie = { key: "PLUGBOARD_BENCH", value: "bench-cookie" };
  const never = { points: 1_000_000_000, durationSec: 1 };
  const h = createPluginHost({
    magicCookie: cookie,
    logger: silentLogger(),
    auditLog: { destination: () => undefined },
    rateLimit: { perCaller: never, perService: never },
    registrationLeaseMs: 0, // the probe's provider sends no heartbeats
  });
  const server = await h.listen({ hostname: "127.0.0.1" });
  const token = await enrol(server.url, upstreamUrl, cookie, await enrolmentTokens(h));
  printJson({ url: server.url, token });
}

interface Started {
  child: ChildProcess;
  info: Record<string, string>;
  /** Writes a line to the child, resolves with its next output line. */
  ask(line: string): Promise<string>;
}

function startChild(mode: string, args: string[], cpu: string, nodeFlags: string[] = []): Promise<Started> {
  const child = spawn("taskset", ["-c", cpu, process.execPath, ...nodeFlags, "--import", "tsx", SELF, mode, ...args], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${mode} exited with ${code}`)));
    const lines = createInterface({ input: child.stdout! });
    const waiting: ((line: string) => void)[] = [];
    lines.once("line", (line) => {
      lines.on("line", (next) => waiting.shift()?.(next));
      resolve({
        child,
        info: JSON.parse(line),
        ask: (command) => new Promise((answer) => (waiting.push(answer), child.stdin!.write(`${command}\n`))),
      });
    });
  });
}

/** utime + stime of a process, in µs. */
function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is state (field 3): utime is field 14, stime 15.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1e6) / 100;
}

function h2load(url: string, calls: number, bodyFile: string, token?: string): number {
  const args = ["-n", String(calls), "-c", "1", "-m", "64", "-t", "1", "-d", bodyFile, "-H", "content-type: application/grpc", "-H", "te: trailers"];
  if (token) args.push("-H", `authorization: Bearer ${token}`);
  const r = spawnSync("taskset", ["-c", "0", "h2load", ...args, `${url}/kv.v1.KVService/Get`], { encoding: "utf8" });
  const m = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(r.stdout);
  const ok = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded/.exec(r.stdout);
  if (!m || !ok || Number(ok[1]) !== calls) throw new Error(`h2load failed:\n${r.stdout}\n${r.stderr}`);
  return Number(m[1]);
}

/** One routed call over raw http2: its grpc-status must be 0 (h2load only sees HTTP 200). */
async function checkGrpcOk(url: string, token: string): Promise<void> {
  const session = http2.connect(url);
  try {
    const status = await new Promise<unknown>((resolve, reject) => {
      const s = session.request({ ":method": "POST", ":path": "/kv.v1.KVService/Get", "content-type": "application/grpc", te: "trailers", authorization: `Bearer ${token}` });
      s.on("response", (h) => h["grpc-status"] !== undefined && resolve(h["grpc-status"]));
      s.on("trailers", (t) => resolve(t["grpc-status"]));
      s.on("error", reject);
      s.on("data", () => undefined);
      s.end(REQUEST);
    });
    if (status !== "0") throw new Error(`routed call answered grpc-status ${String(status)}`);
  } finally {
    await new Promise((r) => setImmediate(r));
    session.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 5);
  const calls = Number(process.argv[3] ?? 10_000);
  const dir = mkdtempSync(join(tmpdir(), "hot-path-probe-"));
  const bodyFile = join(dir, "body.bin");
  writeFileSync(bodyFile, REQUEST);
  const prof = process.env["PROBE_CPU_PROF"];
  const children: ChildProcess[] = [];
  try {
    const up = await startChild("upstream", [], "0");
    children.push(up.child);
    const bareProxy = await startChild("bare", [up.info["url"]!], "1", prof ? ["--cpu-prof", `--cpu-prof-dir=${prof}/bare`] : []);
    children.push(bareProxy.child);
    // PROBE_ROOT=<dir>: the measured host from other sources (e.g. compiled JS, for line-level profiles).
    const root = process.env["PROBE_ROOT"];
    const heap = process.env["PROBE_HEAP_PROF"]; // allocation sampling of the host instead
    const flags = prof ? ["--cpu-prof", `--cpu-prof-dir=${prof}`] : heap ? ["--heap-prof", `--heap-prof-dir=${heap}`, "--heap-prof-interval=4096"] : [];
    const routed = await startChild("host", [up.info["url"]!, ...(root ? [root] : [])], "1", flags);
    children.push(routed.child);
    await checkGrpcOk(routed.info["url"]!, routed.info["token"]!);
    const variants: Record<string, { url: string; pid: number; token: string | undefined }> = {
      bare: { url: bareProxy.info["url"]!, pid: bareProxy.child.pid!, token: undefined },
      router: { url: routed.info["url"]!, pid: routed.child.pid!, token: routed.info["token"] },
    };
    const base = process.env["PROBE_BASE"];
    if (base) {
      const before = await startChild("host", [up.info["url"]!, base], "1");
      children.push(before.child);
      await checkGrpcOk(before.info["url"]!, before.info["token"]!);
      variants["base"] = { url: before.info["url"]!, pid: before.child.pid!, token: before.info["token"] };
    }
    const names = Object.keys(variants);
    for (const v of Object.values(variants)) { h2load(v.url, calls, bodyFile, v.token); h2load(v.url, calls, bodyFile, v.token); } // warm-up (JIT tiers, pools)
    const results: Record<string, { rps: number[]; cpu: number[] }> = {};
    for (const name of names) results[name] = { rps: [], cpu: [] };
    for (let round = 0; round < rounds; round++) {
      // Rotate the order each round, so no variant always runs first.
      const order = names.map((_, i) => names[(i + round) % names.length]!);
      for (const name of order) {
        const v = variants[name]!;
        const served = async () => (JSON.parse(await up.ask("count")) as { served: number }).served;
        const servedBefore = await served();
        const before = cpuMicros(v.pid);
        const rps = h2load(v.url, calls, bodyFile, v.token);
        const cpu = (cpuMicros(v.pid) - before) / calls;
        const reached = (await served()) - servedBefore;
        if (reached !== calls) throw new Error(`${name}: ${calls} calls sent, ${reached} reached the upstream`);
        results[name]!.rps.push(rps);
        results[name]!.cpu.push(cpu);
        console.log(`round ${round + 1} ${name.padEnd(6)} ${rps.toFixed(0).padStart(6)} calls/s ${cpu.toFixed(1).padStart(6)} µs CPU/call`);
      }
    }
    const b = results["bare"]!;
    for (const name of names) {
      const r = results[name]!;
      console.log(`median ${name.padEnd(6)} ${median(r.rps).toFixed(0).padStart(6)} calls/s ${median(r.cpu).toFixed(1).padStart(6)} µs/call`);
    }
    for (const name of names.filter((n) => n !== "bare")) {
      const r = results[name]!;
      // Ratios of the medians, and the median of each round's ratio (variants run back to back in a round).
      const cpuRatios = r.cpu.map((c, i) => c / b.cpu[i]!);
      const rpsRatios = r.rps.map((x, i) => x / b.rps[i]!);
      console.log(`${name}-cpu-vs-bare ${(median(r.cpu) / median(b.cpu)).toFixed(2)} (median of round ratios ${median(cpuRatios).toFixed(2)})`);
      console.log(`${name}-throughput-vs-bare ${(median(r.rps) / median(b.rps)).toFixed(2)} (median of round ratios ${median(rpsRatios).toFixed(2)})`);
    }
  } finally {
    for (const c of children) c.stdin?.end();
    await new Promise((r) => setTimeout(r, 300));
    for (const c of children) if (c.exitCode === null) c.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

const [mode, arg, arg2] = process.argv.slice(2);
// Children exit when the probe closes their stdin (exiting, not closing, lets --cpu-prof write).
if (mode === "upstream" || mode === "bare" || mode === "host") {
  process.stdin.on("end", () => process.exit(0)).resume();
  if (mode === "upstream") await upstream();
  else if (mode === "bare") await bare(arg!);
  else await host(arg!, arg2);
} else await main();
