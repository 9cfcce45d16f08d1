import type { ChildProcess } from "node:child_process";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { HandshakeService } from "../../../gen/plugboard/v1/handshake_pb.js";
import { RegistryService } from "../../../gen/plugboard/v1/registry_pb.js";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { handshakeRequest, type HandshakeInit } from "../../helpers/host.js";
import { createEnrolments, type IssuedEnrolmentToken } from "../../../src/enrolment/index.js";
import { createRedisStore, type RedisSource, type RedisStore } from "../../../src/redis.js";
import { tokenDigest } from "../../../src/tokens/tokens.js";
import { killGroup, spawnTs } from "../../helpers/processes.js";

const HOST_SCRIPT = resolve("test/fixtures/multihost/host.ts");
const CLI = resolve("src/cli/main.ts");

/** A host in its own process (test/fixtures/multihost/host.ts) with plain connect clients towards it. */
export interface HostProcess {
  name: string;
  url: string;
  child: ChildProcess;
  /** Everything the process wrote to stderr and stdout (its JSON logs). */
  logs(): string;
  alive(): boolean;
  handshake: Client<typeof HandshakeService>;
  registry: Client<typeof RegistryService>;
  /** Routed calls to the KV provider through this host's router. */
  kv: Client<typeof KVService>;
  /** Handshakes on this host, proving the name with a fresh enrolment token unless `init` brings one. */
  handshakeAs(init?: HandshakeInit): Promise<{ runtimeId: string; token: string }>;
  /** An enrolment token for `name`, minted as an operator would, straight into the shared store. */
  enrol(name: string, uses?: number): Promise<string>;
  /** Puts every enrolment minted so far back into Redis (after it lost its data, as an operator would re-enrol). */
  restoreEnrolments(): Promise<void>;
  /** SIGTERM, wait for exit, close client sessions. */
  stop(): Promise<void>;
}

export function spawnHost(name: string, redisUrl: string, env: Record<string, string> = {}): Promise<HostProcess> {
  return spawnHostProcess(name, [HOST_SCRIPT], { REDIS_URL: redisUrl, HOST_NAME: name, ...env }, (line) => line["url"], redisUrl);
}

/** Enrolment through the hosts' shared Redis store (default key prefix), one per Redis URL. */
interface StoreEnroller {
  enrol(name: string, uses: number): Promise<string>;
  restore(): Promise<void>;
  close(): Promise<void>;
}
const enrollers = new Map<string, Promise<StoreEnroller>>();

/** The hosts' Redis as the store takes it: a URL, or `{ sentinels, name }` / `{ cluster }`. */
function enrollerFor(source: RedisSource): Promise<StoreEnroller> {
  const redisUrl = typeof source === "string" ? source : JSON.stringify(source);
  let enroller = enrollers.get(redisUrl);
  if (!enroller) {
    enroller = (async () => {
      const store: RedisStore = await createRedisStore({ source });
      const enrolments = createEnrolments({ store, nameBytes: 256 });
      const issued: IssuedEnrolmentToken[] = [];
      return {
        async enrol(name, uses) {
          const e = await enrolments.issue(name, { uses, ttlMs: 10 * 60_000 });
          issued.push(e);
          return e.token;
        },
        async restore() {
          for (const e of issued)
            await store.putEnrolment(tokenDigest(e.token), { id: e.id, pluginName: e.pluginName, expiresAt: e.expiresAt, usesLeft: e.uses });
        },
        close: () => store.close(),
      };
    })();
    enrollers.set(redisUrl, enroller);
  }
  return enroller;
}

/** `plugboard host -c <config>` as an operator runs it; its URL comes from the "listening" log line. */
export function spawnCliHost(
  name: string,
  configFile: string,
  env: Record<string, string> = {},
  /** Where enrolments go when the config names a Sentinel group or a Cluster instead of PLUGBOARD_REDIS_URL. */
  source: RedisSource | undefined = env["PLUGBOARD_REDIS_URL"],
): Promise<HostProcess> {
  return spawnHostProcess(
    name,
    [CLI, "host", "-c", configFile],
    env,
    (line) => (line["msg"] === "plugboard host listening" ? line["url"] : undefined),
    source,
  );
}

async function spawnHostProcess(
  name: string,
  args: string[],
  env: Record<string, string>,
  urlOf: (line: Record<string, unknown>) => unknown,
  redisUrl: RedisSource | undefined,
): Promise<HostProcess> {
  const child = spawnTs(args[0]!, args.slice(1), env);
  let stderr = "";
  let stdout = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => void killGroup(child).finally(() => fail(new Error(`host ${name} did not start in time:\n${stderr}`))), 20_000);
    child.stdout!.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      for (const line of stdout.split("\n")) {
        if (!line.startsWith("{")) continue;
        try {
          const found = urlOf(JSON.parse(line) as Record<string, unknown>);
          if (typeof found === "string") {
            clearTimeout(timer);
            ok(found);
          }
        } catch {
          // a partial line; wait for the rest
        }
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`host ${name} exited with ${code}:\n${stderr}`));
    });
  });
  const { transport, close } = connectTransport(url);
  return {
    name,
    url,
    child,
    logs: () => stderr + stdout,
    alive: () => child.exitCode === null && child.signalCode === null,
    handshake: createClient(HandshakeService, transport),
    registry: createClient(RegistryService, transport),
    kv: createClient(KVService, transport),
    async enrol(pluginName, uses = 100) {
      if (!redisUrl) throw new Error("enrol needs the host's Redis URL");
      return (await enrollerFor(redisUrl)).enrol(pluginName, uses);
    },
    async restoreEnrolments() {
      if (redisUrl) await (await enrollerFor(redisUrl)).restore();
    },
    async handshakeAs(init = {}) {
      const fields = { ...init };
      if (fields["enrolmentToken"] === undefined && redisUrl)
        fields["enrolmentToken"] = await (await enrollerFor(redisUrl)).enrol(typeof fields["pluginName"] === "string" ? fields["pluginName"] : "kv", 1);
      const res = await createClient(HandshakeService, transport).handshake(handshakeRequest(fields));
      return { runtimeId: res.runtimeId, token: res.runtimeToken };
    },
    async stop() {
      close();
      const key = redisUrl === undefined ? undefined : typeof redisUrl === "string" ? redisUrl : JSON.stringify(redisUrl);
      const enroller = key === undefined ? undefined : enrollers.get(key);
      if (enroller) {
        enrollers.delete(key!);
        await (await enroller).close().catch(() => undefined);
      }
      await killGroup(child, { graceMs: 5_000 });
    },
  };
}

/** A connect transport with its own session manager, so teardown can close its sessions. */
export function connectTransport(baseUrl: string): { transport: Transport; close(): void } {
  const manager = new Http2SessionManager(baseUrl);
  return {
    transport: createConnectTransport({ baseUrl, httpVersion: "2", sessionManager: manager }),
    close: () => manager.abort(),
  };
}

/** A KV provider that checks nothing (not the caller header either): any runtime may point its base URL here. */
export async function startPlainKvProvider(): Promise<{ url: string; calls(): number; close(): Promise<void> }> {
  let calls = 0;
  const server = http2.createServer(
    connectNodeAdapter({
      routes: (r) =>
        r.service(KVService, {
          get: (req) => {
            calls++;
            return { key: req.key, found: true, value: new Uint8Array([1]) };
          },
        }),
    }),
  );
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls: () => calls,
    close: () =>
      new Promise<void>((ok) => {
        for (const s of sessions) s.destroy();
        server.close(() => ok());
      }),
  };
}
