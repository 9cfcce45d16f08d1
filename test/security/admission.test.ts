import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { Http2SessionManager, createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HandshakeService } from "../../gen/plugboard/v1/handshake_pb.js";
import { RegistryService, WatchEventType } from "../../gen/plugboard/v1/registry_pb.js";
import { AdminService } from "../../gen/plugboard/v1/admin_pb.js";
import { KVService } from "../../gen/kv/v1/kv_pb.js";
import { fetchStatus } from "../../src/cli/status-command.js";
import { createPlugin } from "../../src/sdk/index.js";
import { enrolled, pluginOptions } from "../integration/sdk/harness.js";
import type { AuditEvent } from "../../src/audit/audit.js";
import { DEFAULT_LIMITS } from "../../src/protocol/constants.js";
import { retryDelayMs } from "../../src/router/retry-info.js";
import { createRedisStore } from "../../src/redis.js";
import { findRedisServer, useRedisServer } from "../helpers/redis.js";
import { handshakeRequest, startTestHost, type TestHost } from "../helpers/host.js";
import { bearer, createTransports, PROTOCOLS } from "../helpers/transports.js";

/** Hole 9 of issue 12: handshakes, runtimes and registrations are bounded; no answer outgrows the message limit. */
const KV = "kv.v1.KVService";
const BASE = "http://127.0.0.1:7001";
const PROVIDES = [{ type: KV, version: "1.0.0" }];

const codeOf = (p: Promise<unknown>) => p.then(() => "ok" as const, (e) => ConnectError.from(e).code);

let t: TestHost | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe.each(["connect", "grpc"] as const)("handshake flood from one peer over %s", (protocol) => {
  const { handshakesPerSecond: rate, handshakeBurst: burst } = DEFAULT_LIMITS;
  /** Most handshakes the per-peer budget can admit in `sec` seconds (fixed 1 s and 10 s windows). */
  const most = (sec: number) => rate * (Math.ceil(sec) + 1) + burst * (Math.ceil(sec / 10) + 1);

  /** `batches` × 100 concurrent handshakes; a plugin name per batch keeps the per-name runtime cap out of the way. */
  async function flood(handshake: Client<typeof HandshakeService>, batches: number, headers: (i: number) => Record<string, string> = () => ({})) {
    const started = Date.now();
    const outcomes: Array<"ok" | ConnectError> = [];
    for (let batch = 0; batch < batches; batch++) {
      const req = handshakeRequest({
        pluginName: `flooder-${batch}`,
        baseUrl: BASE,
        provides: Array.from({ length: 8 }, (_, i) => ({ type: `flood.v1.Service${i}`, version: "1.0.0" })),
      });
      outcomes.push(
        ...(await Promise.all(
          Array.from({ length: 100 }, (_, i) =>
            handshake.handshake(req, { headers: headers(batch * 100 + i) }).then(() => "ok" as const, (e) => ConnectError.from(e)),
          ),
        )),
      );
    }
    const refused = outcomes.filter((o): o is ConnectError => o !== "ok");
    return { admitted: outcomes.length - refused.length, refused, elapsedSec: (Date.now() - started) / 1000 };
  }

  it("3000 handshakes: the peer is refused after its budget (ResourceExhausted + RetryInfo), others are not", async () => {
    // Unproven names (dev opt-in) so the flood measures the handshake budget, not name proof.
    t = await startTestHost({ allowUnprovenNames: true });
    const { handshake } = t.clients(protocol);
    const { admitted, refused, elapsedSec } = await flood(handshake, 30);

    // The budget is never smaller than rate + burst, and never larger than its windows allow in the time taken.
    expect(admitted).toBeGreaterThanOrEqual(rate + burst);
    expect(admitted).toBeLessThanOrEqual(most(elapsedSec));
    for (const err of refused) {
      expect(err.code).toBe(Code.ResourceExhausted);
      expect(err.message).toMatch(/limits\.handshakesPerSecond/);
      expect(retryDelayMs(err)).toBeGreaterThan(0);
    }
    // Refused handshakes hold nothing.
    expect(await t.host.store.countRuntimes()).toBe(admitted);

    // Another peer (another loopback address) has a budget of its own.
    const manager = new Http2SessionManager(t.url, undefined, { localAddress: "127.0.0.2" } as never);
    try {
      const other = createClient(HandshakeService, createConnectTransport({ baseUrl: t.url, httpVersion: "2", sessionManager: manager }));
      expect(await codeOf(other.handshake(handshakeRequest({ pluginName: "neighbour" })))).toBe("ok");
    } finally {
      manager.abort();
    }
  }, 120_000);

  it("a forwarding header cannot claim another peer: the budget follows the socket", async () => {
    t = await startTestHost({ allowUnprovenNames: true });
    const forwarded = (i: number) => ({ "x-forwarded-for": `203.0.113.${i % 250}, 198.51.100.${i % 250}`, "x-real-ip": `198.51.100.${i % 250}`, forwarded: `for=192.0.2.${i % 250}` });
    const { admitted, refused, elapsedSec } = await flood(t.clients(protocol).handshake, 4, forwarded);
    expect(admitted).toBeLessThanOrEqual(most(elapsedSec));
    expect(refused.length).toBeGreaterThan(0);
  }, 60_000);
});

describe("caps on runtimes and registrations", () => {
  it("a runtime's 65th registration is refused, naming the limit; updates in place and other runtimes still work", async () => {
    t = await startTestHost();
    const me = await t.handshake({ baseUrl: BASE, provides: PROVIDES });
    const { registry } = t.clients("connect");
    const register = (i: number, token = me.token) => registry.register({ serviceType: KV, endpoint: `${BASE}/r${i}` }, bearer(token));
    for (let i = 0; i < 64; i++) await register(i);

    const err = ConnectError.from(await register(64).catch((e) => e));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.message).toMatch(/limits\.registrationsPerRuntime/);
    expect(await t.host.store.countRegistrations({ runtimeId: me.runtimeId })).toBe(64);
    expect(await codeOf(registry.register({ serviceType: KV, endpoint: `${BASE}/r3`, weight: 7 }, bearer(me.token)))).toBe("ok");

    const other = await t.handshake({ pluginName: "kv2", baseUrl: BASE, provides: PROVIDES });
    expect(await codeOf(register(0, other.token))).toBe("ok");
  });

  it("registrations per service type are capped over all runtimes", async () => {
    t = await startTestHost({ limits: { registrationsPerService: 3 } });
    const a = await t.handshake({ baseUrl: BASE, provides: PROVIDES });
    const b = await t.handshake({ pluginName: "kv2", baseUrl: BASE, provides: PROVIDES });
    const { registry } = t.clients("connect");
    await registry.register({ serviceType: KV, endpoint: `${BASE}/a1` }, bearer(a.token));
    await registry.register({ serviceType: KV, endpoint: `${BASE}/a2` }, bearer(a.token));
    await registry.register({ serviceType: KV, endpoint: `${BASE}/b1` }, bearer(b.token));
    const err = ConnectError.from(await registry.register({ serviceType: KV, endpoint: `${BASE}/b2` }, bearer(b.token)).catch((e) => e));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.message).toMatch(/limits\.registrationsPerService/);
  });

  it("runtimes are capped per plugin name and in total", async () => {
    const audit: AuditEvent[] = [];
    t = await startTestHost({ limits: { maxRuntimesPerName: 2, maxRuntimes: 3 }, audit: (e) => audit.push(e) });
    await t.handshake({ pluginName: "kv" });
    await t.handshake({ pluginName: "kv" });
    const perName = ConnectError.from(await t.handshake({ pluginName: "kv" }).catch((e) => e));
    expect(perName.code).toBe(Code.ResourceExhausted);
    expect(perName.message).toMatch(/limits\.maxRuntimesPerName/);
    await t.handshake({ pluginName: "log" });
    const total = ConnectError.from(await t.handshake({ pluginName: "other" }).catch((e) => e));
    expect(total.code).toBe(Code.ResourceExhausted);
    expect(total.message).toMatch(/limits\.maxRuntimes\b/);
    expect(await t.host.store.countRuntimes()).toBe(3);
    expect(audit.filter((e) => e.event === "handshake" && e.outcome === "failure").map((e) => e.reason)).toEqual([
      expect.stringMatching(/limits\.maxRuntimesPerName/),
      expect.stringMatching(/limits\.maxRuntimes\b/),
    ]);
  });

  it("a registration's metadata is bounded in total bytes, not only per entry", async () => {
    t = await startTestHost();
    const me = await t.handshake({ baseUrl: BASE, provides: PROVIDES });
    // 40 entries of 4000 bytes pass every per-entry limit: 160 KB in one registration, as the attack sent.
    const big = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, "v".repeat(4000)]));
    const err = ConnectError.from(await t.clients("connect").registry.register({ serviceType: KV, metadata: big }, bearer(me.token)).catch((e) => e));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.message).toMatch(/limits\.registrationMetadataBytes/);
  });
});

describe.skipIf(findRedisServer() === undefined)("caps on a Redis store (shared by hosts)", () => {
  const redisServer = useRedisServer();

  it("counts runtimes per name and registrations per runtime in Redis", async () => {
    const store = await createRedisStore({ url: redisServer().url, keyPrefix: "admission:" });
    t = await startTestHost({ store, limits: { maxRuntimesPerName: 1, registrationsPerRuntime: 2 } });
    const me = await t.handshake({ baseUrl: BASE, provides: PROVIDES });
    expect(await codeOf(t.handshake({ baseUrl: BASE, provides: PROVIDES }))).toBe(Code.ResourceExhausted);
    const { registry } = t.clients("grpc");
    await registry.register({ serviceType: KV, endpoint: `${BASE}/a` }, bearer(me.token));
    await registry.register({ serviceType: KV, endpoint: `${BASE}/b` }, bearer(me.token));
    const err = ConnectError.from(await registry.register({ serviceType: KV, endpoint: `${BASE}/c` }, bearer(me.token)).catch((e) => e));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.message).toMatch(/limits\.registrationsPerRuntime/);
    // Once the runtime ends, its name is free again.
    await t.clients("grpc").handshake.revoke({}, bearer(me.token));
    expect(await codeOf(t.handshake({ baseUrl: BASE, provides: PROVIDES }))).toBe("ok");
  });
});

describe("a registry holding more than the message limit still answers", () => {
  const RUNTIMES = 5;
  /** Four entries of 4000 bytes: just under limits.registrationMetadataBytes (16 KiB) once framed. */
  const metadata = Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`k${i}`, "m".repeat(4000)]));
  let big: TestHost;
  let watcherToken: string;
  let adminToken: string;
  const expected = new Set<string>();

  beforeAll(async () => {
    let adminRuntime = "";
    big = await startTestHost({ policy: { isAdmin: (identity) => identity.runtimeId === adminRuntime } });
    const { registry } = big.clients("grpc");
    for (let r = 0; r < RUNTIMES; r++) {
      const rt = await big.handshake({ pluginName: `kv${r}`, baseUrl: BASE, provides: PROVIDES });
      const all = await Promise.all(
        Array.from({ length: 64 }, (_, i) =>
          registry.register({ serviceType: KV, endpoint: `${BASE}/p${i}`, metadata }, bearer(rt.token)),
        ),
      );
      for (const res of all) expected.add(res.registration!.registrationId);
    }
    watcherToken = (await big.handshake({ pluginName: "watcher" })).token;
    const admin = await big.handshake({ pluginName: "ops" });
    adminRuntime = admin.runtimeId;
    adminToken = admin.token;
    const bytes = (await big.host.store.listRegistrations()).reduce((n, r) => n + Object.values(r.metadata).join("").length, 0);
    expect(bytes).toBeGreaterThan(DEFAULT_LIMITS.maxMessageBytes);
  }, 120_000);
  afterAll(async () => big?.close());

  describe.each(PROTOCOLS.filter((p) => p !== "grpc-web"))("over %s", (protocol) => {
    it("Watch delivers the snapshot in several messages, every registration exactly once, then changes", async () => {
      const { registry } = big.clients(protocol);
      const controller = new AbortController();
      const seen: string[] = [];
      let messages = 0;
      const stream = registry.watch({}, { ...bearer(watcherToken), signal: controller.signal })[Symbol.asyncIterator]();
      try {
        for (;;) {
          const { value: event } = await stream.next();
          expect(event.type).toBe(WatchEventType.SNAPSHOT);
          messages++;
          seen.push(...event.registrations.map((r: { registrationId: string }) => r.registrationId));
          if (event.snapshotComplete) break;
        }
        // Changes follow the snapshot on the same stream (the late runtime is revoked again, restoring the registry).
        const late = await big.handshake({ pluginName: "late", baseUrl: BASE, provides: PROVIDES });
        const added = await registry.register({ serviceType: KV }, bearer(late.token));
        const next = (await stream.next()).value;
        expect(next.type).toBe(WatchEventType.ADDED);
        expect(next.registrations[0].registrationId).toBe(added.registration!.registrationId);
        await big.clients(protocol).handshake.revoke({}, bearer(late.token));
        expect((await stream.next()).value.type).toBe(WatchEventType.REMOVED);
      } finally {
        controller.abort();
      }
      expect(messages).toBeGreaterThan(1);
      expect(seen).toHaveLength(expected.size);
      expect(new Set(seen)).toEqual(expected);
    });

    it("Discover pages: every provider exactly once, each page under the message limit", async () => {
      const { registry } = big.clients(protocol);
      const seen: string[] = [];
      let pageToken = "";
      let pages = 0;
      do {
        const res = await registry.discover({ serviceType: KV, pageToken }, bearer(watcherToken));
        if (pages === 0) expect(res.selected).toBeDefined();
        seen.push(...res.providers.map((r) => r.registrationId));
        pageToken = res.nextPageToken;
        pages++;
      } while (pageToken !== "");
      expect(pages).toBeGreaterThan(1);
      expect(seen).toHaveLength(expected.size);
      expect(new Set(seen)).toEqual(expected);
    });

    it("ListRuntimes pages: every runtime and registration exactly once", async () => {
      const admin = createClient(AdminService, createTransports(big.url).make(protocol));
      const runtimes: string[] = [];
      const registrations: string[] = [];
      let pageToken = "";
      let pages = 0;
      do {
        const res = await admin.listRuntimes({ pageToken, pageSize: 1000 }, bearer(adminToken));
        runtimes.push(...res.runtimes.map((r) => r.runtimeId));
        registrations.push(...res.runtimes.flatMap((r) => r.registrations.map((g) => g.registrationId)));
        pageToken = res.nextPageToken;
        pages++;
      } while (pageToken !== "");
      expect(pages).toBeGreaterThan(1);
      expect(new Set(runtimes).size).toBe(RUNTIMES + 2);
      expect(runtimes).toHaveLength(RUNTIMES + 2);
      expect(registrations).toHaveLength(expected.size);
      expect(new Set(registrations)).toEqual(expected);
    });
  });

  it("the CLI status command follows the pages", async () => {
    const status = await fetchStatus({ host: big.url, bearer: adminToken });
    expect(status.runtimes).toHaveLength(RUNTIMES + 2);
    expect(status.runtimes.flatMap((r) => r.registrations)).toHaveLength(expected.size);
  });

  it("the SDK's discover follows the pages", async () => {
    const plugin = createPlugin(pluginOptions(big.url, { ...(await enrolled(big, "sdk-consumer")), name: "sdk-consumer" }));
    await plugin.start();
    try {
      const found = await plugin.discover(KVService);
      expect(found.providers).toHaveLength(expected.size);
      expect(new Set(found.providers.map((r) => r.registrationId))).toEqual(expected);
      expect(found.selected).toBeDefined();
    } finally {
      await plugin.stop();
    }
  });

  it("a malformed page token is InvalidArgument", async () => {
    const { registry } = big.clients("connect");
    const err = ConnectError.from(await registry.discover({ serviceType: KV, pageToken: "bm90LW91cnM" }, bearer(watcherToken)).catch((e) => e));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.message).toMatch(/page_token/);
  });
});
