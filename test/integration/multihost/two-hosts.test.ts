/**
 * Two host processes on loopback sharing one real redis-server behave as one host:
 * tokens, registrations, watch events, revocation and rate-limit budgets cross hosts,
 * and a Redis outage is Unavailable (never Internal, never a crash) until Redis is back.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { WatchEventType, type WatchResponse } from "../../../gen/plugboard/v1/registry_pb.js";
import { findRedisServer, startRedis, type RedisServerHandle } from "../../helpers/redis.js";
import { bearer } from "../../helpers/transports.js";
import { eventually, kvConsumer, kvProvider, text, bytes } from "../sdk/harness.js";
import type { Plugin } from "../../../src/sdk/index.js";
import { spawnHost, startPlainKvProvider, type HostProcess } from "./harness.js";
import { HEADER_PROVIDER } from "../../../src/protocol/constants.js";

const KV = KVService.typeName;
const RATE_POINTS = 5;
/** Throws in CI when redis-server is missing: these tests never skip silently there. */
const haveRedis = findRedisServer() !== undefined;

const codeOf = (p: Promise<unknown>): Promise<Code | "ok"> =>
  p.then(
    () => "ok" as const,
    (e: unknown) => ConnectError.from(e).code,
  );
const errorOf = (p: Promise<unknown>): Promise<ConnectError | undefined> =>
  p.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
const consumerDecl = (name: string) => ({ pluginName: name, requires: [{ type: KV, versionRange: "^1.0.0" }] });

describe.skipIf(!haveRedis)("two host processes sharing one Redis", () => {
  let redis: RedisServerHandle;
  let a: HostProcess;
  let b: HostProcess;
  const plugins: Plugin[] = [];
  let provider: Plugin;
  let consumer: Plugin;

  beforeAll(async () => {
    redis = await startRedis();
    const env = { RATE_POINTS: String(RATE_POINTS) };
    [a, b] = await Promise.all([spawnHost("a", redis.url, env), spawnHost("b", redis.url, env)]);
    // The provider plugin lives on A (heartbeat on: it notices a host that forgot it); the consumer on B.
    provider = kvProvider(a.url, {}, { heartbeatMs: 300, enrolmentToken: await a.enrol("kv-provider") });
    consumer = kvConsumer(b.url, { enrolmentToken: await b.enrol("consumer") });
    plugins.push(provider, consumer);
    await provider.start();
    await consumer.start();
  }, 60_000);

  afterAll(async () => {
    await Promise.all(plugins.map((p) => p.stop().catch(() => undefined)));
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  }, 30_000);

  it("routes a call made through B to a provider registered on A, with the caller B authenticated", async () => {
    const kv = consumer.client(KVService);
    await kv.put({ key: "k", value: bytes("v") });
    const got = await kv.get({ key: "k" });
    expect(got.found).toBe(true);
    expect(text(got.value)).toBe("v");
    expect(got.caller).toBe(`runtime:${consumer.runtimeId}`);
    // The consumer's token, issued by B, is accepted by A too: same call through A's router.
    const token = (await b.handshakeAs(consumerDecl("plain-consumer"))).token;
    expect((await a.kv.get({ key: "k" }, bearer(token))).found).toBe(true);
  });

  it("a watcher on B sees a registration made on A added, then removed", async () => {
    const watcher = await b.handshakeAs({ pluginName: "watcher" });
    const controller = new AbortController();
    const stream = b.registry.watch({ serviceTypes: [KV] }, { ...bearer(watcher.token), signal: controller.signal });
    const it = stream[Symbol.asyncIterator]();
    const next = async () => (await it.next()).value as WatchResponse;
    try {
      const snapshot = await next();
      expect(snapshot.type).toBe(WatchEventType.SNAPSHOT);

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

  it("a token issued by A is accepted by B; revoked on B it is refused on A once the stream entry arrives (docs/redis-store.md)", async () => {
    const trials = 20;
    let refusedAtOnce = 0;
    for (let i = 0; i < trials; i++) {
      const rt = await a.handshakeAs(consumerDecl(`revokee-${i}`));
      // A has the token in its read cache: it authenticated it just now.
      expect(await codeOf(a.registry.discover({ serviceType: KV }, bearer(rt.token)))).toBe("ok");
      expect(await codeOf(b.registry.discover({ serviceType: KV }, bearer(rt.token)))).toBe("ok");
      await b.handshake.revoke({ reason: "test" }, bearer(rt.token));
      if ((await codeOf(a.registry.discover({ serviceType: KV }, bearer(rt.token)))) === Code.Unauthenticated) refusedAtOnce++;
      // Within the bound (the event's delivery; at most feedSilenceMs on a silently hung link), and for good.
      await expect.poll(() => codeOf(a.registry.discover({ serviceType: KV }, bearer(rt.token))), { timeout: 10_000, interval: 50 }).toBe(Code.Unauthenticated);
      expect(await codeOf(a.kv.get({ key: "k" }, bearer(rt.token)))).toBe(Code.Unauthenticated);
    }
    console.info(`revocation: ${refusedAtOnce}/${trials} first calls on A right after the revoke on B answered were already refused`);
  });

  it("a provider revoked on B stops getting calls routed by A within the provider-list cache bound (1 s)", async () => {
    const plain = await startPlainKvProvider();
    try {
      const trials = 5;
      let refusedAtOnce = 0;
      for (let i = 0; i < trials; i++) {
        // A fresh consumer each trial: the per-caller budget (RATE_POINTS) is not what this measures.
        const rt = await b.handshakeAs(consumerDecl(`pinning-consumer-${i}`));
        const p = await a.handshakeAs({ pluginName: `kv-plain-${i}`, baseUrl: plain.url, provides: [{ type: KV, version: "1.0.0" }] });
        await a.registry.register({ serviceType: KV }, bearer(p.token));
        const pinned = { headers: { authorization: `Bearer ${rt.token}`, [HEADER_PROVIDER]: p.runtimeId } };
        expect(await codeOf(a.kv.get({ key: "k" }, pinned))).toBe("ok"); // A now caches the provider list
        await b.handshake.revoke({ reason: "test" }, bearer(p.token));
        const first = await codeOf(a.kv.get({ key: "k" }, pinned));
        if (first === Code.Unavailable) refusedAtOnce++;
        else {
          // Only the cached list can still name it, and only until the event arrives or the entry is 1 s old.
          await expect.poll(() => codeOf(a.kv.get({ key: "k" }, pinned)), { timeout: 10_000, interval: 100 }).toBe(Code.Unavailable);
        }
      }
      console.info(`provider revocation: ${refusedAtOnce}/${trials} first routed calls on A refused at once; the rest once the event or the 1 s cache bound passed`);
    } finally {
      await plain.close();
    }
  });

  it(`shares the per-caller budget (${RATE_POINTS}) across hosts: call ${RATE_POINTS + 1}, alternating A and B, is ResourceExhausted`, async () => {
    const rt = await a.handshakeAs(consumerDecl("rate-consumer"));
    const results: (Code | "ok")[] = [];
    for (let i = 0; i < RATE_POINTS + 2; i++) {
      const host = i % 2 === 0 ? a : b;
      results.push(await codeOf(host.kv.get({ key: "k" }, bearer(rt.token))));
    }
    expect(results).toEqual([...Array<"ok">(RATE_POINTS).fill("ok"), Code.ResourceExhausted, Code.ResourceExhausted]);
  });

  it("answers Unavailable while Redis is down (no Internal, no crash) and recovers; the SDK plugins handshake and register again", async () => {
    const before = await a.handshakeAs(consumerDecl("outage-consumer"));
    const duringOutage = await a.enrol("during-outage");
    await redis.kill();

    const probes = {
      handshakeOnA: a.handshake.handshake({ ...handshakeInit("during-outage"), enrolmentToken: duringOutage }),
      discoverOnB: b.registry.discover({ serviceType: KV }, bearer(before.token)),
      routedOnA: a.kv.get({ key: "k" }, bearer(before.token)),
      routedOnB: b.kv.get({ key: "k" }, bearer(before.token)),
      watchOnB: firstMessage(b.registry.watch({ serviceTypes: [KV] }, bearer(before.token))),
      sdkCallOnB: consumer.client(KVService).get({ key: "k" }),
    };
    // Each probe's outcome is taken at once (errorOf), so none is an unhandled rejection meanwhile.
    const outcomes = Object.entries(probes).map(([name, probe]) => [name, errorOf(probe)] as const);
    for (const [name, outcome] of outcomes) {
      const err = await outcome;
      expect(err, name).toBeDefined();
      expect({ name, code: Code[err!.code] }).toEqual({ name, code: Code[Code.Unavailable] });
      expect(err!.rawMessage, name).toMatch(/state store unavailable/);
      expect(err!.rawMessage, name).not.toMatch(/ECONNREFUSED|Connection is closed|redis|127\.0\.0\.1/i);
    }
    expect(a.alive() && b.alive()).toBe(true);

    // Redis comes back empty (no persistence): every runtime is gone, plugins must handshake again,
    // proving their names with enrolments the operator puts back.
    await redis.start();
    await eventually(async () => {
      await a.restoreEnrolments();
      return true;
    }, 15_000);
    const back = await eventually(async () => {
      const rt = await b.handshakeAs(consumerDecl("after-outage"));
      return rt;
    }, 15_000);
    // A reconnects on its own schedule; then it knows Redis lost the old runtime: Unauthenticated, not Unavailable.
    await eventually(async () => (await codeOf(a.registry.discover({ serviceType: KV }, bearer(before.token)))) === Code.Unauthenticated, 15_000);
    // The provider's heartbeat met Unauthenticated, so it handshook and registered again (on A): B's router finds it.
    const providers = await eventually(async () => {
      const res = await b.registry.discover({ serviceType: KV }, bearer(back.token));
      return res.providers.length > 0 ? res.providers : undefined;
    }, 15_000);
    expect(providers!.map((p) => p.runtimeId)).toEqual([provider.runtimeId]);
    // The consumer re-handshakes on its first Unauthenticated answer and its call goes through.
    const got = await consumer.client(KVService).get({ key: "k" });
    expect(got.caller).toBe(`runtime:${consumer.runtimeId}`);
    expect(a.alive() && b.alive()).toBe(true);
    for (const host of [a, b]) expect(host.logs(), host.name).toMatch(/state store reset/);
  }, 60_000);
});

function handshakeInit(name: string) {
  return { magicCookieKey: "PLUGBOARD_TEST", magicCookieValue: "c0ffee-plugins", coreProtocolVersion: 1, appProtocolRanges: ["^1.0.0"], pluginName: name, pluginVersion: "1.0.0" };
}

async function firstMessage<T>(stream: AsyncIterable<T>): Promise<T> {
  for await (const message of stream) return message;
  throw new Error("stream ended without a message");
}
