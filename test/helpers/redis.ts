import { spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { killGroup, spawnGroup } from "./processes.js";
import { onFreePort } from "./free-port.js";

export interface RedisServerHandle {
  /** redis://127.0.0.1:PORT */
  url: string;
  port: number;
  /** Kills the server (SIGKILL: a crash, not a shutdown) and removes its directory. */
  stop(): Promise<void>;
  /** Kills the server and starts an empty one on the same port. */
  restart(): Promise<void>;
  /** Kills the server only; `start()` brings one back on the same port (empty unless persistent). */
  kill(): Promise<void>;
  start(): Promise<void>;
}

let cachedBinary: string | null | undefined;

/**
 * The redis-server binary, or undefined when it is not installed. In CI (`CI` set)
 * a missing binary throws: the Redis suites must run there, never silently skip.
 */
export function findRedisServer(): string | undefined {
  if (cachedBinary === undefined) {
    const probe = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
    cachedBinary = probe.status === 0 ? "redis-server" : null;
  }
  if (cachedBinary === null) {
    if (process.env["CI"]) {
      throw new Error("redis-server is not installed but CI is set: apt-get install -y redis-server");
    }
    console.warn("redis-server not installed: skipping Redis tests (apt-get install -y redis-server)");
    return undefined;
  }
  return cachedBinary;
}


function launch(binary: string, port: number, dir: string, persistent = false): Promise<ChildProcess> {
  // persistent: every write is in the append-only file before Redis answers, so a server killed -9
  // and started again (an outage) comes back with its data.
  const aof = persistent ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"];
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", ...aof, "--dir", dir];
  const child = spawnGroup(binary, args);
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => fail(new Error(`redis-server did not start on ${port}:\n${output}`)), 10_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      void killGroup(child).finally(() => reject(err));
    };
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("exit", (code) => fail(new Error(`redis-server exited with ${code}:\n${output}`)));
  });
}

async function killChild(child: ChildProcess | undefined): Promise<void> {
  if (!child) return;
  const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await killGroup(child);
  await exited;
}

/**
 * Starts a private redis-server on a free loopback port, non-persistent unless `persistent` (then
 * `kill()` + `start()` is an outage that keeps the data). Throws if redis-server is missing.
 */
export async function startRedis(options: { persistent?: boolean } = {}): Promise<RedisServerHandle> {
  const binary = findRedisServer();
  if (!binary) throw new Error("redis-server is not installed");
  const dir = mkdtempSync(join(tmpdir(), "plugboard-redis-"));
  const [port, first] = await onFreePort(async (free) => [free, await launch(binary, free, dir, options.persistent)] as const).catch((err: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  let child: ChildProcess | undefined = first;

  const kill = async () => {
    await killChild(child);
    child = undefined;
  };
  const start = async () => {
    if (!child) child = await launch(binary, port, dir, options.persistent);
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    start,
    async restart() {
      await kill();
      await start();
    },
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One redis-server for the enclosing describe block (started before its tests, stopped after). */
export function useRedisServer(): () => RedisServerHandle {
  let server: RedisServerHandle | undefined;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });
  return () => server!;
}
