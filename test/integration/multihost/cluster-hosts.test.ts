/**
 * Two `plugboard host` processes on a three-primary Redis Cluster, started from one CLI config
 * (`store: { redis: { cluster: [...] } }`): handshake, register, discover, watch, routed calls,
 * revoke and a shared rate budget work across hosts, and /readyz answers 503 while the node
 * serving the deployment's slot cannot serve.
 */
import http2 from "node:http2";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { WatchEventType, type WatchResponse } from "../../../gen/plugboard/v1/registry_pb.js";
import type { Plugin } from "../../../src/sdk/index.js";
import { COOKIE } from "../../helpers/host.js";
import { findRedisServer } from "../../helpers/redis.js";
import { makeTempDir } from "../../helpers/temp-dirs.js";
import { haveRedisCluster, redisCommand, startRedisCluster, type RedisCluster } from "../../helpers/redis-topologies.js";
import { bearer } from "../../helpers/transports.js";
import { kvProvider } from "../sdk/harness.js";
import { spawnCliHost, type HostProcess } from "./harness.js";

const haveRedis = findRedisServer() !== undefined;
const KV = KVService.typeName;
const POINTS = 3;
const consumer = (name: string) => ({ pluginName: name, requires: [{ type: KV, versionRange: "*" }] });
const codeOf = (p: Promise<unknown>): Promise<Code | "ok"> =>
  p.then(
    () => "ok" as const,
    (e: unknown) => ConnectError.from(e).code,
  );

/** The keys on one node that match `pattern` (SCAN: that node only). */
async function keysOn(port: number, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = "0";
  do {
    const [next, keys] = (await redisCommand(port, "SCAN", cursor, "MATCH", pattern, "COUNT", 1000)) as [string, string[]];
    found.push(...keys);
    cursor = next;
  } while (cursor !== "0");
  return found;
}

/** GET over its own HTTP/2 session → the status. */
async function statusOf(url: string, path: string): Promise<number> {
  const session = http2.connect(url);
  try {
    return await new Promise((resolve, reject) => {
      const stream = session.request({ ":path": path });
      stream.on("response", (h) => resolve(Number(h[":status"])));
      stream.on("error", reject);
      stream.resume();
      stream.end();
    });
  } finally {
    session.close();
  }
}

describe.skipIf(!haveRedis || !haveRedisCluster())("plugboard host ×2 on a three-primary Redis Cluster", () => {
  let cluster: RedisCluster;
  let dir: string;
  let hosts: HostProcess[] = [];
  let provider: Plugin | undefined;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    dir = makeTempDir("plugboard-cluster-hosts-");
    const config = join(dir, "host.yaml");
    writeFileSync(
      config,
      [
        "listen: { hostname: 127.0.0.1, port: 0 }",
        `magicCookie: { key: ${COOKIE.key}, value: ${COOKIE.value} }`,
        `store: { redis: { cluster: [${cluster.addresses.map((a) => `"${a}"`).join(", ")}] } }`,
        `rateLimit: { perCaller: { points: ${POINTS}, durationSec: 600 } }`,
      ].join("\n"),
    );
    const source = { cluster: cluster.addresses };
    hosts = await Promise.all(["cluster-a", "cluster-b"].map((name) => spawnCliHost(name, config, {}, source)));
    // Heartbeats on: the file outlasts a registration lease (10 s), and the outage test pauses a primary.
    provider = kvProvider(hosts[0]!.url, {}, { heartbeatMs: 1_000, enrolmentToken: await hosts[0]!.enrol("kv-provider", 5) });
    await provider.start();
  }, 90_000);

  afterAll(async () => {
    await provider?.stop().catch(() => undefined);
    await Promise.all(hosts.map((h) => h.stop()));
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it("handshake on B, discover on A, routed calls on both, one per-caller budget", async () => {
    const [a, b] = hosts as [HostProcess, HostProcess];
    const rt = await b.handshakeAs(consumer("consumer"));
    const found = await a.registry.discover({ serviceType: KV }, bearer(rt.token));
    expect(found.providers.map((p) => p.runtimeId)).toEqual([provider!.runtimeId]);
    const codes: Array<Code | "ok"> = [];
    for (let i = 0; i < POINTS + 1; i++) codes.push(await codeOf((i % 2 === 0 ? a : b).kv.get({ key: "k" }, bearer(rt.token))));
    expect(codes).toEqual([...Array<"ok">(POINTS).fill("ok"), Code.ResourceExhausted]);
  });

  it("a watcher on B sees a registration made on A added, then removed", async () => {
    const [a, b] = hosts as [HostProcess, HostProcess];
    const watcher = await b.handshakeAs({ pluginName: "watcher" });
    const controller = new AbortController();
    const stream = b.registry.watch({ serviceTypes: [KV] }, { ...bearer(watcher.token), signal: controller.signal });
    const it = stream[Symbol.asyncIterator]();
    const next = async () => (await it.next()).value as WatchResponse;
    try {
      expect((await next()).type).toBe(WatchEventType.SNAPSHOT);
      const p = await a.handshakeAs({ pluginName: "kv-second", baseUrl: "http://127.0.0.1:7999", provides: [{ type: KV, version: "1.0.0" }] });
      const reg = (await a.registry.register({ serviceType: KV }, bearer(p.token))).registration!;
      const added = await next();
      expect(added.type).toBe(WatchEventType.ADDED);
      expect(added.registrations.map((r) => r.registrationId)).toEqual([reg.registrationId]);
      await a.registry.unregister({ registrationId: reg.registrationId }, bearer(p.token));
      const removed = await next();
      expect(removed.type).toBe(WatchEventType.REMOVED);
      expect(removed.registrations.map((r) => r.registrationId)).toEqual([reg.registrationId]);
    } finally {
      controller.abort();
    }
  });

  it("a token issued by A and revoked on B is refused on A", async () => {
    const [a, b] = hosts as [HostProcess, HostProcess];
    const rt = await a.handshakeAs(consumer("revokee"));
    expect(await codeOf(b.kv.get({ key: "k" }, bearer(rt.token)))).toBe("ok");
    await b.handshake.revoke({ reason: "test" }, bearer(rt.token));
    expect(await codeOf(a.kv.get({ key: "k" }, bearer(rt.token)))).toBe(Code.Unauthenticated);
  });

  it("the CLI given a cluster node as a plain URL exits saying what it is and what to write", async () => {
    const config = join(dir, "wrong-mode.yaml");
    writeFileSync(
      config,
      [
        "listen: { hostname: 127.0.0.1, port: 0 }",
        `magicCookie: { key: ${COOKIE.key}, value: ${COOKIE.value} }`,
        `store: redis://${cluster.addresses[0]}`,
      ].join("\n"),
    );
    await expect(spawnCliHost("wrong-mode", config)).rejects.toThrow(
      `is a Redis Cluster node: write store: { redis: { cluster: ["${cluster.addresses[0]}", …] } }`,
    );
  }, 30_000);

  it("spreads one deployment's keys over all three primaries; a watcher hears registrations from every bucket", async () => {
    const [a, b] = hosts as [HostProcess, HostProcess];
    const services = Array.from({ length: 8 }, (_, i) => `spread${i}.v1.Echo`);
    const watcher = await b.handshakeAs({ pluginName: "spread-watcher" });
    const controller = new AbortController();
    const stream = b.registry.watch({ serviceTypes: services }, { ...bearer(watcher.token), signal: controller.signal });
    const events = stream[Symbol.asyncIterator]();
    const next = async () => (await events.next()).value as WatchResponse;
    try {
      expect((await next()).type).toBe(WatchEventType.SNAPSHOT);
      const registered: string[] = [];
      for (const [i, type] of services.entries()) {
        const host = i % 2 === 0 ? a : b;
        const p = await host.handshakeAs({ pluginName: `spread-${i}`, baseUrl: `http://127.0.0.1:${7100 + i}`, provides: [{ type, version: "1.0.0" }] });
        registered.push((await host.registry.register({ serviceType: type }, bearer(p.token))).registration!.registrationId);
      }
      const heard: string[] = [];
      while (heard.length < registered.length) {
        const event = await next();
        if (event.type === WatchEventType.ADDED) heard.push(...event.registrations.map((r) => r.registrationId));
      }
      expect(heard.sort()).toEqual([...registered].sort());
    } finally {
      controller.abort();
    }

    const primaries = [];
    for (const node of cluster.nodes) {
      if (((await redisCommand(node.port, "ROLE")) as string[])[0] === "master") primaries.push(node);
    }
    expect(primaries).toHaveLength(3);
    // Bucket keys are `{plugboard:i.n}:…` (16 buckets over the slot range); only the deployment-wide
    // `{plugboard}:epoch` and `{plugboard}:layout` share one slot.
    const perPrimary = await Promise.all(primaries.map((n) => keysOn(n.port, "{plugboard:*")));
    for (const keys of perPrimary) expect(keys.length).toBeGreaterThan(0);
    const runtimesPerPrimary = perPrimary.map((keys) => keys.filter((k) => /\}:rt:/.test(k)).length);
    expect(runtimesPerPrimary.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    const all = perPrimary.flat();
    for (const type of services) expect(all.some((k) => k.endsWith(`}:svc:${type}`))).toBe(true);
    const caller = await b.handshakeAs({ pluginName: "spread-caller", requires: services.map((type) => ({ type, versionRange: "*" })) });
    for (const type of services) expect((await a.registry.discover({ serviceType: type }, bearer(caller.token))).providers).toHaveLength(1);
  }, 60_000);

  it("/readyz is 503 while the node serving the deployment's slot cannot serve, 200 again after", async () => {
    const [a, b] = hosts as [HostProcess, HostProcess];
    for (const host of [a, b]) expect(await statusOf(host.url, "/readyz")).toBe(200);
    const owner = await cluster.nodeFor("{plugboard}:epoch");
    owner.pause();
    try {
      for (const host of [a, b]) {
        await expect.poll(async () => await statusOf(host.url, "/readyz"), { timeout: 20_000, interval: 200 }).toBe(503);
      }
    } finally {
      owner.resume();
    }
    for (const host of [a, b]) {
      await expect.poll(async () => await statusOf(host.url, "/readyz"), { timeout: 30_000, interval: 200 }).toBe(200);
    }
    const rt = await a.handshakeAs(consumer("after-outage"));
    expect(await codeOf(b.kv.get({ key: "k" }, bearer(rt.token)))).toBe("ok");
  }, 90_000);
});
