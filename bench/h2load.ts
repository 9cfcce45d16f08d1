/**
 * The external load generator: h2load (Debian nghttp2-client) sending unary calls with a pre-built
 * body — gRPC (framed, `content-type: application/grpc`, `te: trailers`) or Connect unary
 * (`application/proto`) — over h2c, pinned to core 0 with the upstream. h2load counts HTTP status
 * only, so the caller checks that the upstream answered as many calls (a gRPC error is a 200 too).
 */
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { killGroup, spawnGroup, tempDir } from "./processes.js";
import { GET_PATH, getRequest, grpcFrame } from "./wire.js";

export type CallProtocol = "grpc" | "connect";

export interface H2loadResult {
  callsPerSec: number;
  done: number;
  succeeded: number;
  failed: number;
  /** Mean time per request, ms. */
  meanMs: number;
}

export interface H2loadRun {
  url: string;
  protocol: CallProtocol;
  calls: number;
  /** Connections and streams per connection: clients × streams calls in flight. */
  clients: number;
  streams: number;
  token?: string;
}

export const haveH2load = (): boolean => spawnSync("h2load", ["--version"]).status === 0;

let bodies: Record<CallProtocol, string> | undefined;
function bodyFile(protocol: CallProtocol): string {
  if (!bodies || !existsSync(bodies.grpc)) {
    const dir = tempDir("plugboard-bench-h2load-");
    bodies = { grpc: join(dir, "get.grpc"), connect: join(dir, "get.proto") };
    writeFileSync(bodies.grpc, grpcFrame(getRequest()));
    writeFileSync(bodies.connect, getRequest());
  }
  return bodies[protocol];
}

export function h2loadArgs(run: H2loadRun, body: string): string[] {
  const headers =
    run.protocol === "grpc" ? ["content-type: application/grpc", "te: trailers"] : ["content-type: application/proto", "connect-protocol-version: 1"];
  if (run.token !== undefined) headers.push(`authorization: Bearer ${run.token}`);
  return [
    ...["-n", String(run.calls), "-c", String(run.clients), "-m", String(run.streams), "-d", body],
    ...headers.flatMap((h) => ["-H", h]),
    `${run.url}${GET_PATH}`,
  ];
}

/** Runs h2load to completion (killed after `timeoutMs`) and parses its summary. */
export async function h2load(run: H2loadRun, timeoutMs = 120_000): Promise<H2loadResult> {
  const child = spawnGroup("h2load", h2loadArgs(run, bodyFile(run.protocol)), 0, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => void killGroup(child), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  clearTimeout(timer);
  await killGroup(child);
  if (code !== 0) throw new Error(`h2load exited with ${code} against ${run.url}:\n${out.slice(-2000)}`);
  return parseH2load(out);
}

/** Reads h2load's summary: `finished in …, N req/s`, the `requests:` line and the `time for request:` mean. */
export function parseH2load(out: string): H2loadResult {
  const rate = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out);
  const req = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed/.exec(out);
  const time = /time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)\b/.exec(out);
  if (!rate || !req || !time) throw new Error(`cannot parse h2load output:\n${out.slice(-2000)}`);
  const unit = { us: 1e-3, ms: 1, s: 1e3 }[time[2] as "us" | "ms" | "s"];
  return { callsPerSec: Number(rate[1]), done: Number(req[2]), succeeded: Number(req[3]), failed: Number(req[4]), meanMs: Number(time[1]) * unit };
}
