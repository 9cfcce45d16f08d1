/**
 * Scale curve 3: one Register seen by `watchers` Watch streams, held by a separate process
 * (bench/watchers.ts; 16 streams per watching runtime, the default per-caller limit). Per round: a
 * provider registers, and the time from Register returning (and from it being sent) to the last
 * watcher's ADDED event is taken (wall clock, shared by the processes); then it unregisters and
 * every watcher's REMOVED is awaited. After one warm-up round, medians over rounds; the host's and the watchers' CPU (/proc)
 * over all rounds per event delivered to one stream.
 *
 * `client`: the watchers' client (see bench/watchers.ts). With `connect`, a thousand connect-es client
 * streams share one process and one core, and their decoding (~70 µs per message) bounds the time
 * more than the host does; `raw` watchers leave the host's fan-out as what is measured.
 */
import { KVService } from "../gen/kv/v1/kv_pb.js";
import { startChild } from "./children.js";
import { median } from "./load.js";
import { bearer, handshake, hostRpc, mintTokens } from "./host-rpc.js";
import { onCleanup, processCpuMicros } from "./processes.js";
import { epochMs, WATCHERS_PER_RUNTIME } from "./watchers.js";

export interface WatchFanout {
  watchers: number;
  /** Register returned → last watcher's event, ms (negative: every watcher had it first). */
  lastAfterReturnMs: number;
  /** Register sent → last watcher's event, ms. */
  lastAfterSendMs: number;
  /** CPU µs per event delivered to one stream: the host's, the watchers process's. */
  hostCpuUs: number;
  watchersCpuUs: number;
}

/**
 * What a fan-out round needs: a host (`hostFile`, default bench/router-host.ts, on core 1), `watchers`
 * Watch streams held by a watchers process (core 0), and a provider runtime's token. `nodeFlags` go to both
 * children (e.g. `--cpu-prof`).
 */
export async function startFanout(opts: { watchers: number; client: "connect" | "raw"; hostFile?: string; nodeFlags?: string[] }) {
  const nodeFlags = opts.nodeFlags ?? [];
  const host = await startChild<{ url: string }>(opts.hostFile ?? "./router-host.ts", ["--scale"], nodeFlags, 1);
  onCleanup(host.stop);
  const runtimes = Math.ceil(opts.watchers / WATCHERS_PER_RUNTIME);
  const tokens = await mintTokens(host.ask, "watcher-", runtimes);
  const [providerToken] = await mintTokens(host.ask, "fanout-provider-", 1);
  const rpc = hostRpc(host.info.url);
  onCleanup(rpc.close);
  const runtimeTokens: string[] = [];
  for (let r = 0; r < runtimes; r++) runtimeTokens.push(await handshake(rpc, `watcher-${r}`, tokens[r]!, "consumer"));
  const watchers = await startChild<{ ready: true }>("./watchers.ts", [host.info.url, String(opts.watchers), opts.client, ...runtimeTokens], nodeFlags, 0);
  onCleanup(watchers.stop);
  const token = await handshake(rpc, "fanout-provider-0", providerToken!, { baseUrl: "http://127.0.0.1:29999" });
  return { host, rpc, watchers, token };
}

export async function measureWatchFanout(opts: { watchers: number; rounds: number; client: "connect" | "raw" }): Promise<WatchFanout> {
  const { host, rpc, watchers, token } = await startFanout(opts);
  /** One Register → every ADDED → Unregister → every REMOVED; the last ADDED's time after the Register returned and was sent. */
  const round = async (): Promise<{ afterReturn: number; afterSend: number }> => {
    await watchers.ask("ADDED");
    const last = watchers.next();
    const sent = epochMs();
    const { registration } = await rpc.registry.register({ serviceType: KVService.typeName }, bearer(token));
    const returned = epochMs();
    const lastAt = (JSON.parse(await withTimeout(last, "every watcher's ADDED")) as { lastAt: number }).lastAt;
    await watchers.ask("REMOVED");
    const removed = watchers.next();
    await rpc.registry.unregister({ registrationId: registration!.registrationId }, bearer(token));
    await withTimeout(removed, "every watcher's REMOVED");
    return { afterReturn: lastAt - returned, afterSend: lastAt - sent };
  };
  await round(); // warm-up (both processes' first fan-out runs unoptimised code), not counted
  const afterReturn: number[] = [];
  const afterSend: number[] = [];
  const hostCpu0 = processCpuMicros(host.pid);
  const watchersCpu0 = processCpuMicros(watchers.pid);
  for (let r = 0; r < opts.rounds; r++) {
    const t = await round();
    afterReturn.push(t.afterReturn);
    afterSend.push(t.afterSend);
  }
  const delivered = 2 * opts.rounds * opts.watchers;
  return {
    watchers: opts.watchers,
    lastAfterReturnMs: median(afterReturn),
    lastAfterSendMs: median(afterSend),
    hostCpuUs: (processCpuMicros(host.pid) - hostCpu0) / delivered,
    watchersCpuUs: (processCpuMicros(watchers.pid) - watchersCpu0) / delivered,
  };
}

function withTimeout<T>(promise: Promise<T>, what: string, ms = 30_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not come within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
