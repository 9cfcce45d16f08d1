/**
 * Counting what routed calls cost in Redis: two in-process hosts on one real redis-server
 * (store and rate limiter both on it), a provider registered on A, a consumer calling through B.
 */
import { Redis } from "ioredis";
import { createClient, type Client } from "@connectrpc/connect";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { HandshakeService } from "../../../gen/plugboard/v1/handshake_pb.js";
import { RegistryService } from "../../../gen/plugboard/v1/registry_pb.js";
import { createPluginHostWithRedis, type RedisPluginHostOptions } from "../../../src/host/with-redis.js";
import type { PluginHost } from "../../../src/host/create.js";
import type { RunningServer } from "../../../src/host/listen.js";
import { silentLogger } from "../../../src/log/logger.js";
import type { RedisSource } from "../../../src/store/redis-source.js";
import { COOKIE, handshakeRequest, type HandshakeInit } from "../../helpers/host.js";
import { bearer } from "../../helpers/transports.js";
import { connectTransport } from "./harness.js";

export const KV = KVService.typeName;

/** Commands a host issues on its own schedule, not per call: the event reader's blocking read, sweeps, replica checks. */
export const BACKGROUND_COMMANDS = new Set([
  "xread", "xrevrange", "zrangebyscore", "info", "ping", "client|setname", "client", "select",
  // On a Cluster: slot-map refreshes, and the store's primary check (EXISTS on its anchor key every 2 s).
  "cluster", "exists", "readonly",
]);

export interface CountingHost {
  host: PluginHost;
  server: RunningServer;
  handshake: Client<typeof HandshakeService>;
  registry: Client<typeof RegistryService>;
  kv: Client<typeof KVService>;
  /** Handshakes with a fresh enrolment token for `init.pluginName`. */
  handshakeAs(init: HandshakeInit & { pluginName: string }): Promise<{ runtimeId: string; token: string }>;
  close(): Promise<void>;
}

export async function startCountingHost(redis: RedisSource, options: Partial<RedisPluginHostOptions> = {}): Promise<CountingHost> {
  const host = await createPluginHostWithRedis({
    redis,
    magicCookie: COOKIE,
    logger: silentLogger(),
    auditLog: { destination: () => undefined },
    // Background work out of the way of the count (the lease sweep is a ZRANGEBYSCORE, counted as background).
    sweepIntervalMs: 60_000,
    // No age-based re-read to hide a missed invalidation: the events alone must keep B true.
    readCache: { maxAgeMs: 600_000 },
    rateLimit: {
      perCaller: { points: 1_000_000, durationSec: 600, burst: 10 },
      perService: { points: 1_000_000, durationSec: 600, burst: 10 },
    },
    ...options,
  });
  const server = await host.listen({ hostname: "127.0.0.1", port: 0 });
  const { transport, close } = connectTransport(server.url);
  const handshake = createClient(HandshakeService, transport);
  return {
    host,
    server,
    handshake,
    registry: createClient(RegistryService, transport),
    kv: createClient(KVService, transport),
    async handshakeAs(init) {
      const enrolmentToken = (await host.issueEnrolmentToken(init.pluginName)).token;
      const res = await handshake.handshake(handshakeRequest({ ...init, enrolmentToken }));
      return { runtimeId: res.runtimeId, token: res.runtimeToken };
    },
    async close() {
      close();
      await new Promise((r) => setImmediate(r));
      await host.close();
    },
  };
}

/** `INFO commandstats` as command → calls. */
export async function commandStats(admin: Redis): Promise<Map<string, number>> {
  const info = await admin.info("commandstats");
  const stats = new Map<string, number>();
  for (const line of info.split("\n")) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (m) stats.set(m[1]!, Number(m[2]));
  }
  return stats;
}

/** Per-command deltas between two snapshots (the INFO that took `after` counted out). */
export function statsDelta(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [cmd, calls] of after) {
    const d = calls - (before.get(cmd) ?? 0) - (cmd === "info" ? 1 : 0);
    if (d > 0) delta.set(cmd, d);
  }
  return delta;
}

/**
 * What `n` calls of `call` cost, background commands left out: `perCall` counts the commands clients
 * send (MONITOR, each a round trip Redis Cluster routes), `perCallWithScripts` adds the commands
 * scripts run inside Redis (what INFO commandstats counts); `delta` is the commandstats breakdown.
 */
export async function commandsPerCall(redisUrls: string | string[], n: number, call: () => Promise<unknown>) {
  const urls = typeof redisUrls === "string" ? [redisUrls] : redisUrls;
  const admins = urls.map((url) => new Redis(url));
  try {
    const sum = async () => {
      const total = new Map<string, number>();
      for (const stats of await Promise.all(admins.map(commandStats))) for (const [k, v] of stats) total.set(k, (total.get(k) ?? 0) + v);
      return total;
    };
    const before = await sum();
    const seen = await monitoredEntries(urls, async () => {
      for (let c = 0; c < n; c++) await call();
    });
    const delta = statsDelta(before, await sum());
    const sent = seen.filter((e) => !e.inScript).length;
    return { perCall: sent / n, perCallWithScripts: seen.length / n, delta, one: seen.slice(0, Math.ceil(seen.length / n)).map((e) => e.text) };
  } finally {
    for (const admin of admins) admin.disconnect();
  }
}

interface MonitorEntry {
  text: string;
  inScript: boolean;
}

/** Non-background commands the Redis servers at `urls` received while `fn` ran, in order per server (MONITOR; arguments cut short). */
async function monitoredEntries(urls: string[], fn: () => Promise<unknown>): Promise<MonitorEntry[]> {
  const admins = urls.map((url) => new Redis(url));
  const monitors = await Promise.all(admins.map((admin) => admin.monitor()));
  const seen: MonitorEntry[][] = urls.map(() => []);
  const done = urls.map(() => false);
  monitors.forEach((monitor, i) =>
    monitor.on("monitor", (_time: string, args: string[], source: string) => {
      const cmd = (args[0] ?? "").toLowerCase();
      if (done[i] || BACKGROUND_COMMANDS.has(cmd) || cmd === "hello") return;
      const text = [cmd, ...args.slice(1, 3).map((a) => (a.length > 24 ? `${a.slice(0, 24)}…` : a))].join(" ");
      seen[i]!.push({ text: source === "lua" ? `(lua) ${text}` : text, inScript: source === "lua" });
    }),
  );
  try {
    await fn();
    // MONITOR lines may trail the replies: a marker through each monitored server ends its capture.
    await Promise.all(
      urls.map(async (url, i) => {
        const marker = new Redis(url);
        try {
          await new Promise<void>((resolve) => {
            monitors[i]!.on("monitor", (_t: string, args: string[]) => {
              if (args[0]?.toLowerCase() === "echo" && args[1] === "end-of-count") {
                done[i] = true;
                resolve();
              }
            });
            void marker.echo("end-of-count");
          });
        } finally {
          marker.disconnect();
        }
      }),
    );
  } finally {
    for (const monitor of monitors) monitor.disconnect();
    for (const admin of admins) admin.disconnect();
  }
  return seen.flat().filter((e) => !e.text.startsWith("echo end-of-count"));
}

export { bearer };
