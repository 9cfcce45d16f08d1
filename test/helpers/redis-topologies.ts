/**
 * Real Redis topologies for the HA tests: a Sentinel group (primary, replica, three sentinels)
 * and a three-primary Cluster. Every process runs in its own process group, killed as a group.
 */
import { spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { killGroup as killProcessGroup, spawnGroup } from "./processes.js";
import { makeTempDir } from "./temp-dirs.js";
import { onFreePort } from "./free-port.js";

export interface RedisProcess {
  port: number;
  address: string;
  /** SIGKILL to the process group: a crash. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: a replica that lags (acknowledges nothing) while stopped. */
  pause(): void;
  resume(): void;
  alive(): boolean;
}


/** `redis-cli --cluster` ships with Debian's redis-tools (a dependency of redis-server). */
export function haveRedisCluster(): boolean {
  const probe = spawnSync("redis-cli", ["--cluster", "help"], { encoding: "utf8" });
  return probe.status === 0 || /Cluster Manager/.test(`${probe.stdout}${probe.stderr}`);
}

async function launch(args: string[], ready: RegExp, port: number): Promise<RedisProcess> {
  // Its own process group, also killed by the per-file cleanup (cleanup.setup.ts) if a test does not get to it.
  const child: ChildProcess = spawnGroup("redis-server", args);
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`redis-server ${args[0]} did not start:\n${output}`)), 15_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      killGroup(child);
      reject(err);
    };
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (ready.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("exit", (code) => fail(new Error(`redis-server exited with ${code}:\n${output}`)));
  });
  child.stdout!.resume();
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    port,
    address: `127.0.0.1:${port}`,
    alive,
    pause: () => process.kill(-child.pid!, "SIGSTOP"),
    resume: () => process.kill(-child.pid!, "SIGCONT"),
    async kill() {
      if (!alive()) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      killGroup(child);
      // Bounded: an exit that raced the check above is never announced again.
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
      await killProcessGroup(child);
    },
  };
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, "SIGKILL");
    process.kill(-child.pid!, "SIGCONT"); // a stopped process dies only once continued
  } catch {
    // already gone
  }
}

function startServer(dir: string, extra: string[] = []): Promise<RedisProcess> {
  return onFreePort((port) => {
    const nodeDir = join(dir, `node-${port}`);
    mkdirSync(nodeDir);
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", nodeDir, ...extra];
    return launch(args, /Ready to accept connections/, port);
  });
}

export async function until<T>(probe: () => Promise<T | undefined | false>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function withClient<T>(port: number, fn: (c: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on("error", () => {});
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

export const redisCommand = (port: number, ...args: Array<string | number>) =>
  withClient(port, (c) => c.call(args[0] as string, ...args.slice(1)));

export interface SentinelGroup {
  name: string;
  primary: RedisProcess;
  replica: RedisProcess;
  sentinels: RedisProcess[];
  /** "host:port" of each sentinel. */
  sentinelAddresses: string[];
  /** The address the sentinels currently name as primary. */
  currentPrimary(): Promise<string>;
  stop(): Promise<void>;
}

export async function startSentinelGroup(): Promise<SentinelGroup> {
  const dir = makeTempDir("plugboard-sentinel-");
  const name = "plugboard-primary";
  const processes: RedisProcess[] = [];
  try {
    const primary = await startServer(dir);
    processes.push(primary);
    const replica = await startServer(dir, ["--replicaof", "127.0.0.1", String(primary.port)]);
    processes.push(replica);
    await until(
      async () => /master_link_status:up/.test((await redisCommand(replica.port, "INFO", "replication")) as string),
      "the replica to sync",
    );
    const sentinels: RedisProcess[] = [];
    for (let i = 0; i < 3; i++) {
      const sentinel = await onFreePort((port) => {
        const file = join(dir, `sentinel-${port}.conf`);
        writeFileSync(
          file,
          [
            `port ${port}`,
            "bind 127.0.0.1",
            `dir ${dir}`,
            `sentinel monitor ${name} 127.0.0.1 ${primary.port} 2`,
            `sentinel down-after-milliseconds ${name} 1000`,
            `sentinel failover-timeout ${name} 5000`,
            `sentinel parallel-syncs ${name} 1`,
          ].join("\n") + "\n",
        );
        return launch([file, "--sentinel"], /Sentinel ID is|monitor master/, port);
      });
      sentinels.push(sentinel);
      processes.push(sentinel);
    }
    const currentPrimary = async () => {
      for (const s of sentinels) {
        if (!s.alive()) continue;
        try {
          const [host, port] = (await redisCommand(s.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)) as string[];
          return `${host}:${port}`;
        } catch {
          // ask the next one
        }
      }
      throw new Error("no sentinel answered");
    };
    // Every sentinel must know the replica and the others before a fail-over can succeed.
    await until(async () => {
      for (const s of sentinels) {
        const replicas = (await redisCommand(s.port, "SENTINEL", "REPLICAS", name)) as unknown[];
        const others = (await redisCommand(s.port, "SENTINEL", "SENTINELS", name)) as unknown[];
        if (replicas.length < 1 || others.length < 2) return false;
      }
      return true;
    }, "the sentinels to discover each other");
    return {
      name,
      primary,
      replica,
      sentinels,
      sentinelAddresses: sentinels.map((s) => s.address),
      currentPrimary,
      async stop() {
        await Promise.all(processes.map((p) => p.kill()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all(processes.map((p) => p.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

export interface RedisCluster {
  nodes: RedisProcess[];
  addresses: string[];
  /** The node serving `key`'s slot. */
  nodeFor(key: string): Promise<RedisProcess>;
  /** A replica of `primary` (with `replicas: 1`). */
  replicaOf(primary: RedisProcess): Promise<RedisProcess>;
  stop(): Promise<void>;
}

/** Three primaries (and `replicas` replicas each), slots split by `redis-cli --cluster create`. */
export async function startRedisCluster(options: { replicas?: number } = {}): Promise<RedisCluster> {
  const dir = makeTempDir("plugboard-cluster-");
  const nodes: RedisProcess[] = [];
  const replicas = options.replicas ?? 0;
  try {
    for (let i = 0; i < 3 * (1 + replicas); i++) {
      nodes.push(
        await startServer(dir, ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"]),
      );
    }
    const create = spawnSync("redis-cli", ["--cluster", "create", ...nodes.map((n) => n.address), "--cluster-replicas", String(replicas), "--cluster-yes"], {
      encoding: "utf8",
      timeout: 30_000,
    });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed:\n${create.stdout}${create.stderr}`);
    await until(async () => {
      for (const n of nodes) {
        if (!/cluster_state:ok/.test((await redisCommand(n.port, "CLUSTER", "INFO")) as string)) return false;
      }
      return true;
    }, "cluster_state:ok");
    if (replicas > 0) {
      await until(async () => {
        let synced = 0;
        for (const n of nodes) {
          if (/master_link_status:up/.test((await redisCommand(n.port, "INFO", "replication")) as string)) synced++;
        }
        return synced === 3 * replicas;
      }, "the replicas to sync");
    }
    return {
      nodes,
      addresses: nodes.map((n) => n.address),
      async nodeFor(key) {
        const slot = Number(await redisCommand(nodes[0]!.port, "CLUSTER", "KEYSLOT", key));
        const slots = (await redisCommand(nodes[0]!.port, "CLUSTER", "SLOTS")) as Array<[number, number, [string, number]]>;
        const owner = slots.find(([from, to]) => slot >= from && slot <= to)!;
        return nodes.find((n) => n.port === Number(owner[2][1]))!;
      },
      async replicaOf(primary) {
        const lines = ((await redisCommand(primary.port, "CLUSTER", "NODES")) as string).split("\n");
        const id = lines.find((l) => l.includes("myself"))!.split(" ")[0]!;
        const line = lines.find((l) => l.split(" ")[3] === id)!;
        const port = Number(line.split(" ")[1]!.split(":")[1]!.split("@")[0]);
        return nodes.find((n) => n.port === port)!;
      },
      async stop() {
        await Promise.all(nodes.map((n) => n.kill()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all(nodes.map((n) => n.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
