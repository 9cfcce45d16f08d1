/**
 * The watchers of bench/watch-fanout.ts, in a process of their own (so the Register's caller and
 * the watchers do not share an event loop, and "after Register returned" means something).
 *   tsx bench/watchers.ts <host-url> <watchers> <connect|raw> <runtime-token>…
 * `connect`: each watch is a connect-es client stream (what a plugin's SDK uses); `raw`: read over
 * node:http2 directly and decoded with protobuf-es (bench/raw-watch.ts), so the time measured is the
 * host's fan-out rather than this one process running a thousand client pipelines on one core.
 * Opens the watches (16 per runtime token, each runtime on its own HTTP/2 connection) and prints
 * `{"ready":true}` once every snapshot is complete. Then each stdin line `ADDED` or `REMOVED` arms
 * a wait for that event on every watcher, answered `{"firstAt", "lastAt": <epoch ms of the first and last one>}`. Exits when stdin closes.
 */
import { setMaxListeners } from "node:events";
import { createInterface } from "node:readline";
import { KVService } from "../gen/kv/v1/kv_pb.js";
import { connect } from "node:http2";
import { WatchEventType, type WatchResponse } from "../gen/plugboard/v1/registry_pb.js";
import { rawWatch } from "./raw-watch.js";
import { bearer, hostRpc, type HostRpc } from "./host-rpc.js";

export const WATCHERS_PER_RUNTIME = 16;

/** Wall-clock ms with sub-ms precision, comparable across processes on one machine. */
export const epochMs = () => performance.timeOrigin + performance.now();

async function main(): Promise<void> {
  const [url, count, client, ...tokens] = process.argv.slice(2);
  if (client !== "connect" && client !== "raw") throw new Error(`watch client must be connect or raw, not ${client}`);
  const watchers = Number(count);
  const abort = new AbortController();
  setMaxListeners(0, abort.signal);
  const sessions: { close(): void }[] = [];
  let step = { type: WatchEventType.SNAPSHOT, seen: 0, first: 0, last: 0, done: () => {} };
  const arm = (type: WatchEventType, done: (first: number, last: number) => void) => {
    step = { type, seen: 0, first: 0, last: 0, done: () => done(step.first, step.last) };
  };
  const seen = (type: WatchEventType) => {
    if (type !== step.type) return;
    step.last = epochMs();
    if (step.seen === 0) step.first = step.last;
    if (++step.seen === watchers) step.done();
  };
  const onEvent = (event: WatchResponse) => {
    if (event.type !== WatchEventType.SNAPSHOT) seen(event.type);
    else if (event.snapshotComplete) seen(WatchEventType.SNAPSHOT);
  };
  const report = (e: unknown) => {
    if (!abort.signal.aborted) console.error("bench watcher:", String(e));
  };
  const watchConnect = async (rpc: HostRpc, token: string) => {
    try {
      for await (const event of rpc.registry.watch({ serviceTypes: [KVService.typeName] }, { ...bearer(token), signal: abort.signal })) onEvent(event);
    } catch (e) {
      report(e);
    }
  };
  const ready = new Promise<number>((resolve) => arm(WatchEventType.SNAPSHOT, resolve));
  tokens.forEach((token, r) => {
    const streams = Math.min(WATCHERS_PER_RUNTIME, watchers - r * WATCHERS_PER_RUNTIME);
    if (client === "raw") {
      const session = connect(url!);
      session.on("error", report);
      sessions.push(session);
      for (let s = 0; s < streams; s++) rawWatch(session, token, [KVService.typeName], onEvent).catch(report);
      return;
    }
    const rpc = hostRpc(url!);
    sessions.push(rpc);
    for (let s = 0; s < streams; s++) void watchConnect(rpc, token);
  });
  await ready;
  console.log(JSON.stringify({ ready: true }));
  createInterface({ input: process.stdin }).on("line", (line) => {
    const type = line.trim() === "ADDED" ? WatchEventType.ADDED : WatchEventType.REMOVED;
    arm(type, (firstAt, lastAt) => console.log(JSON.stringify({ firstAt, lastAt })));
    console.log(JSON.stringify({ armed: true }));
  });
  process.stdin.on("end", () => {
    abort.abort();
    // Streams first, then their sessions (node:http2 on Node 20 can loop otherwise).
    setImmediate(() => {
      sessions.forEach((s) => s.close());
      process.exit(0);
    });
  });
}

if (process.argv[1]?.endsWith("watchers.ts")) await main();
