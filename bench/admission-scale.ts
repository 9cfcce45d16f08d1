/**
 * Scale probe (issue 17): admission cost, Discover paging and Watch fan-out, each against a host
 * child (bench/admission-scale-host.ts) so the host's CPU is measured apart from the clients'.
 *
 *   npx tsx bench/admission-scale.ts [admission[=N]|discover|watch]…   (all three by default; N runtimes, default 300)
 *   HOST_CPU_PROF=/tmp/dir  also writes a --cpu-prof profile of the host child there.
 *
 * bench/run.ts imports measureAdmission, measureDiscover and measureWatchFanout; each starts and
 * stops its own host child and returns plain numbers.
 */
import { setMaxListeners } from "node:events";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { HandshakeService } from "../gen/plugboard/v1/handshake_pb.js";
import { RegistryService, WatchEventType } from "../gen/plugboard/v1/registry_pb.js";
import { startChild, type Child } from "./children.js";
import { SCALE_COOKIE } from "./admission-scale-host.js";

interface HostInfo {
  url: string;
}

function startHost(): Promise<Child<HostInfo>> {
  const dir = process.env["HOST_CPU_PROF"];
  return startChild<HostInfo>("./admission-scale-host.ts", [], dir ? ["--cpu-prof", `--cpu-prof-dir=${dir}`] : []);
}

async function hostCpuUs(host: Child<HostInfo>): Promise<number> {
  const { user, system } = JSON.parse(await host.ask("cpu")) as { user: number; system: number };
  return user + system;
}

function clientsOn(url: string) {
  const sessionManager = new Http2SessionManager(url);
  const transport = createConnectTransport({ baseUrl: url, httpVersion: "2", sessionManager });
  return {
    handshake: createClient(HandshakeService, transport),
    registry: createClient(RegistryService, transport),
    close: () => sessionManager.abort(),
  };
}

const COMMON = { magicCookieKey: SCALE_COOKIE.key, magicCookieValue: SCALE_COOKIE.value, coreProtocolVersion: 1, appProtocolRanges: ["^1.0.0"], pluginVersion: "1.0.0" };
const SERVICE = "bench.scale.v1.Store";

/** Handshakes (proving its name with an enrolment token) and registers one provider of `type`. */
async function admitProvider(
  c: ReturnType<typeof clientsOn>,
  name: string,
  enrolmentToken: string,
  port: number,
  type = SERVICE,
): Promise<string> {
  const res = await c.handshake.handshake({
    ...COMMON,
    pluginName: name,
    provides: [{ type, version: "1.0.0" }],
    baseUrl: `http://127.0.0.1:${port}`,
    enrolmentToken,
  });
  await c.registry.register({ serviceType: type }, { headers: { authorization: `Bearer ${res.runtimeToken}` } });
  return res.runtimeToken;
}

/** Handshakes a consumer (no registrations, so no lease that could end its streams); returns its runtime token. */
async function admitConsumer(c: ReturnType<typeof clientsOn>, name: string, enrolmentToken: string): Promise<string> {
  return (await c.handshake.handshake({ ...COMMON, pluginName: name, requires: [{ type: SERVICE, versionRange: "^1.0.0" }], enrolmentToken })).runtimeToken;
}

async function tokens(host: Child<HostInfo>, n: number, prefix: string): Promise<string[]> {
  return JSON.parse(await host.ask(`tokens ${n} ${prefix}`)) as string[];
}

async function inParallel(n: number, concurrency: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) await job(next++);
    }),
  );
}

export interface AdmissionResult {
  runtimes: number;
  /** Host CPU (user + system) per handshake + register, µs: all runtimes over one shared HTTP/2 connection. */
  hostCpuUsShared: number;
  /** The same with one HTTP/2 connection per runtime (as separate plugin processes do). */
  hostCpuUsPerConnection: number;
  runtimesPerSecShared: number;
}

/** `runtimes` providers handshake and register through the real protocol; host CPU per runtime. */
export async function measureAdmission(runtimes = 300, concurrency = 16): Promise<AdmissionResult> {
  const host = await startHost();
  try {
    // Warm-up: the first calls pay module and JIT costs that are no part of the steady state.
    const warm = await tokens(host, 50, "warm");
    const shared = clientsOn(host.info.url);
    await inParallel(warm.length, concurrency, (i) => admitProvider(shared, `warm${i}`, warm[i]!, 9000).then(() => undefined));

    const a = await tokens(host, runtimes, "a");
    let before = await hostCpuUs(host);
    const started = performance.now();
    await inParallel(runtimes, concurrency, (i) => admitProvider(shared, `a${i}`, a[i]!, 9000).then(() => undefined));
    const elapsed = performance.now() - started;
    const sharedUs = ((await hostCpuUs(host)) - before) / runtimes;
    shared.close();

    const b = await tokens(host, runtimes, "b");
    before = await hostCpuUs(host);
    await inParallel(runtimes, concurrency, async (i) => {
      const own = clientsOn(host.info.url);
      try {
        await admitProvider(own, `b${i}`, b[i]!, 9000);
      } finally {
        own.close();
      }
    });
    const perConnUs = ((await hostCpuUs(host)) - before) / runtimes;
    return {
      runtimes,
      hostCpuUsShared: Math.round(sharedUs),
      hostCpuUsPerConnection: Math.round(perConnUs),
      runtimesPerSecShared: Math.round((runtimes / elapsed) * 1000),
    };
  } finally {
    await host.stop();
  }
}

export interface DiscoverRow {
  providers: number;
  /** Median latency of a first page (with the strategy's pick), ms. */
  firstPageMs: number;
  /** Median latency of a page from the middle of the listing (page token), ms. */
  laterPageMs: number;
  pageSize: number;
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

/** Discover latency at each provider count (providers seeded straight into the store). */
export async function measureDiscover(sizes = [10, 1000, 10_000], pageSize = 100, rounds = 30): Promise<DiscoverRow[]> {
  const host = await startHost();
  const c = clientsOn(host.info.url);
  try {
    const [t] = await tokens(host, 1, "disc");
    const token = await admitConsumer(c, "disc0", t!);
    const auth = { headers: { authorization: `Bearer ${token}` } };
    const rows: DiscoverRow[] = [];
    let seeded = 0;
    for (const size of sizes) {
      await host.ask(`seed ${SERVICE} ${size - seeded}`);
      seeded = size;
      const request = { serviceType: SERVICE, versionRange: "^1.0.0", strategy: 1, pageSize };
      // A page token from the middle of the listing.
      let middle = "";
      for (let skipped = 0, token = ""; skipped < size / 2; skipped += pageSize) {
        const page = await c.registry.discover({ ...request, pageToken: token }, auth);
        token = middle = page.nextPageToken;
        if (token === "") break;
      }
      const first: number[] = [];
      const later: number[] = [];
      for (let i = 0; i < rounds; i++) {
        let t0 = performance.now();
        await c.registry.discover(request, auth);
        first.push(performance.now() - t0);
        t0 = performance.now();
        await c.registry.discover({ ...request, pageToken: middle }, auth);
        later.push(performance.now() - t0);
      }
      rows.push({ providers: size, firstPageMs: round2(median(first)), laterPageMs: round2(median(later)), pageSize });
    }
    return rows;
  } finally {
    c.close();
    await host.stop();
  }
}

export interface WatchResult {
  watchers: number;
  /** From sending the Register until the last watcher has the ADDED event, ms (median of rounds). */
  lastMs: number;
  /** Until half of them have it, ms. */
  medianMs: number;
  /** Host CPU per event delivered to one watcher, µs (includes the Register's own cost, spread over the watchers). */
  hostCpuUsPerDelivery: number;
}

/** `watchers` Watch streams on one service type; a provider registers; time until each stream sees it. */
export async function measureWatchFanout(watchers = 1000, rounds = 5): Promise<WatchResult> {
  const host = await startHost();
  // 256 streams per connection (limits.maxConcurrentStreams): spread the watchers over several.
  const connections = Array.from({ length: Math.ceil(watchers / 200) }, () => clientsOn(host.info.url));
  const abort = new AbortController();
  setMaxListeners(watchers + 10, abort.signal); // one listener per watch stream
  try {
    const [t, ...provs] = await tokens(host, 1 + rounds, "w");
    const watcherToken = await admitConsumer(connections[0]!, "w0", t!);
    const auth = { headers: { authorization: `Bearer ${watcherToken}` }, signal: abort.signal };
    let onAdded: (() => void) | undefined;
    let ready = 0;
    let allReady: () => void = () => undefined;
    const readyPromise = new Promise<void>((r) => (allReady = r));
    for (let i = 0; i < watchers; i++) {
      const c = connections[i % connections.length]!;
      void (async () => {
        for await (const event of c.registry.watch({ serviceTypes: [SERVICE] }, auth)) {
          if (event.type === WatchEventType.SNAPSHOT && event.snapshotComplete && ++ready === watchers) allReady();
          if (event.type === WatchEventType.ADDED) onAdded?.();
        }
      })().catch(() => undefined); // ended by the abort below
    }
    await readyPromise;
    const lasts: number[] = [];
    const halves: number[] = [];
    const cpuBefore = await hostCpuUs(host);
    for (let r = 0; r < rounds; r++) {
      const provider = clientsOn(host.info.url);
      let seen = 0;
      let half = 0;
      const t0 = performance.now();
      const done = new Promise<number>((resolve) => {
        onAdded = () => {
          seen++;
          if (seen === Math.ceil(watchers / 2)) half = performance.now() - t0;
          if (seen === watchers) resolve(performance.now() - t0);
        };
      });
      await admitProvider(provider, `w${r + 1}`, provs[r]!, 9100 + r);
      lasts.push(await done);
      halves.push(half);
      provider.close();
    }
    const perDelivery = ((await hostCpuUs(host)) - cpuBefore) / (rounds * watchers);
    return { watchers, lastMs: round2(median(lasts)), medianMs: round2(median(halves)), hostCpuUsPerDelivery: round2(perDelivery) };
  } finally {
    abort.abort();
    await new Promise((r) => setImmediate(r));
    for (const c of connections) c.close();
    await host.stop();
  }
}

const round2 = (x: number) => Math.round(x * 100) / 100;

async function cli(): Promise<void> {
  const which = process.argv.slice(2);
  const all = which.length === 0;
  const admission = which.find((w) => w.startsWith("admission"));
  if (all || admission) {
    const r = await measureAdmission(Number(admission?.split("=")[1] ?? 300));
    console.log(`admission: ${r.runtimes} runtimes handshake+register; host CPU µs/runtime shared-conn ${r.hostCpuUsShared}, conn-per-runtime ${r.hostCpuUsPerConnection}; ${r.runtimesPerSecShared} runtimes/s`);
  }
  if (all || which.includes("discover")) {
    for (const row of await measureDiscover())
      console.log(`discover: ${row.providers} providers, page ${row.pageSize}: first page ${row.firstPageMs} ms, later page ${row.laterPageMs} ms`);
  }
  if (all || which.includes("watch")) {
    const r = await measureWatchFanout();
    console.log(`watch: ${r.watchers} watchers: last ${r.lastMs} ms, half ${r.medianMs} ms, host CPU ${r.hostCpuUsPerDelivery} µs per delivery`);
  }
}

if (process.argv[1]?.endsWith("admission-scale.ts")) await cli();
