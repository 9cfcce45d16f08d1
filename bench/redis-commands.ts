/**
 * Part 2: Redis commands per routed call in steady state. A host with the Redis store AND the Redis
 * rate limiter (bench/redis-vs-memory-host.ts, leases on, its provider heartbeating) routes `calls`
 * unary calls after a warm-up; `INFO commandstats` is read before and after on every node (one
 * redis-server, or the three primaries of a Cluster) and the growth divided by the calls — background
 * work (lease renewals, event reads) included, the INFO commands themselves not. Two counts: commands
 * the host sent (MONITOR, a script is one: the round trips issue 17's target is about) and commands
 * Redis executed (INFO commandstats, which also counts each command a script runs).
 */
import { Redis } from "ioredis";
import { startChild, type Child } from "./children.js";
import { enrolPair, type BenchEnrolment } from "./enrol.js";
import { keepLease } from "./heartbeat.js";
import { kvClient, runLoad } from "./load.js";
import { onCleanup } from "./processes.js";
import { BENCH_REDIS_COOKIE } from "./redis-vs-memory-host.js";

export interface CommandsPerCall {
  /** Commands the hosts sent per routed call (round trips; a script counts one), seen by MONITOR. */
  sent: number;
  /** Commands sent, per name, per routed call. */
  sentByCommand: [string, number][];
  /** All commands Redis executed per routed call, those inside scripts included (INFO commandstats). */
  total: number;
  /** Per command name (lower case), per routed call, largest first. */
  byCommand: [string, number][];
}

export type RedisTopology = "single" | "cluster";

/** Counts of `cmdstat_<name>:calls=N,…` lines. */
export function parseCommandStats(info: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts.set(m[1]!.toLowerCase(), Number(m[2]));
  return counts;
}

/** (after − before) / calls per command, with `own` commands of the measurement itself taken out. */
export function commandsPerCall(
  before: Map<string, number>,
  after: Map<string, number>,
  calls: number,
  own: Map<string, number>,
): Omit<CommandsPerCall, "sent" | "sentByCommand"> {
  const byCommand: [string, number][] = [];
  let total = 0;
  for (const [name, n] of after) {
    const delta = n - (before.get(name) ?? 0) - (own.get(name) ?? 0);
    if (delta <= 0) continue;
    byCommand.push([name, delta / calls]);
    total += delta;
  }
  byCommand.sort((a, b) => b[1] - a[1]);
  return { total: total / calls, byCommand };
}

export async function measureCommandsPerCall(topology: RedisTopology, opts: { calls: number; warmupCalls: number }): Promise<CommandsPerCall> {
  let addresses: { host: string; port: number }[];
  let hostArgs: string[];
  if (topology === "single") {
    const { startRedis } = await import("../test/helpers/redis.js");
    const redis = await startRedis();
    onCleanup(redis.stop);
    addresses = [{ host: "127.0.0.1", port: redis.port }];
    hostArgs = ["redis", redis.url];
  } else {
    const { startRedisCluster } = await import("../test/helpers/redis-topologies.js");
    const cluster = await startRedisCluster();
    onCleanup(cluster.stop);
    addresses = cluster.nodes.map((n) => ({ host: "127.0.0.1", port: n.port }));
    hostArgs = ["cluster", ...cluster.addresses];
  }
  const upstream = await startChild<{ url: string }>("./grpc-upstream.ts", []);
  onCleanup(upstream.stop);
  const host: Child<{ url: string; enrolment: BenchEnrolment }> = await startChild("./redis-vs-memory-host.ts", hostArgs);
  onCleanup(host.stop);
  const tokens = await enrolPair(host.info.url, upstream.info.url, BENCH_REDIS_COOKIE, host.info.enrolment);
  onCleanup(keepLease(host.info.url, tokens.provider));
  const client = kvClient(host.info.url, tokens.consumer);
  onCleanup(client.close);
  await runLoad(client.kv, "unary-c32", { calls: opts.warmupCalls, concurrency: 16 }, 0);

  const nodes = addresses.map((a) => new Redis(a.port, a.host, { maxRetriesPerRequest: 1 }));
  onCleanup(() => nodes.forEach((n) => n.disconnect()));
  const stats = async () => {
    const sum = new Map<string, number>();
    for (const node of nodes) for (const [k, v] of parseCommandStats(await node.info("commandstats"))) sum.set(k, (sum.get(k) ?? 0) + v);
    return sum;
  };
  // MONITOR tells a client's commands from those a script runs (source "lua"): the round trips.
  const sent = new Map<string, number>();
  const monitors = await Promise.all(nodes.map((n) => n.monitor()));
  onCleanup(() => monitors.forEach((m) => m.disconnect()));
  let counting = false;
  for (const m of monitors) {
    m.on("monitor", (_time: string, args: string[], source: string) => {
      if (!counting || source === "lua") return;
      const name = String(args[0]).toLowerCase();
      sent.set(name, (sent.get(name) ?? 0) + 1);
    });
  }
  const before = await stats();
  counting = true;
  await runLoad(client.kv, "unary-c32", { calls: opts.calls, concurrency: 16 }, 0);
  counting = false;
  const after = await stats();
  sent.delete("info"); // the measurement's own
  const sentByCommand = [...sent].map(([name, n]): [string, number] => [name, n / opts.calls]).sort((a, b) => b[1] - a[1]);
  // The first INFO of each node is counted by the second one.
  return {
    sent: sentByCommand.reduce((sum, [, n]) => sum + n, 0),
    sentByCommand,
    ...commandsPerCall(before, after, opts.calls, new Map([["info", nodes.length]])),
  };
}

export function formatCommands(label: string, c: CommandsPerCall): string {
  const list = (entries: [string, number][]) => {
    // Background work (an event read, a sweep) shows as a few hundredths: summed, not listed.
    const listed = entries.filter(([, n]) => n >= 0.01);
    const rest = entries.filter(([, n]) => n < 0.01).reduce((sum, [, n]) => sum + n, 0);
    return [...listed.map(([name, n]) => `${name} ${n.toFixed(2)}`), ...(rest > 0 ? [`others ${rest.toFixed(3)}`] : [])].join(", ");
  };
  return (
    `${label.padEnd(34)}${c.sent.toFixed(2).padStart(6)} sent (${list(c.sentByCommand)}); ` +
    `${c.total.toFixed(2)} executed, inside scripts too (${list(c.byCommand)})`
  );
}
