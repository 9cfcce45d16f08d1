import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { SelectionStrategy, WatchEventType, RemovalReason, type WatchResponse } from "../../../gen/plugboard/v1/registry_pb.js";
import { HealthState } from "../../../gen/plugboard/v1/common_pb.js";
import { bearer } from "../../helpers/transports.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";

const KV = "kv.v1.KVService";
const provider = (port: number, name = "kv") => ({
  pluginName: name,
  baseUrl: `http://127.0.0.1:${port}`,
  provides: [{ type: KV, version: "1.2.0" }],
});

async function codeOf(promise: Promise<unknown>): Promise<Code | "ok"> {
  return promise.then(
    () => "ok" as const,
    (e) => ConnectError.from(e).code,
  );
}

let t: TestHost;
afterEach(async () => t?.close());

describe.each(["connect", "grpc"] as const)("registry over %s", (protocol) => {
  it("registers a declared service and discovers it with version filters", async () => {
    t = await startTestHost();
    const { registry } = t.clients(protocol);
    const p = await t.handshake(provider(7001), protocol);
    const res = await registry.register({ serviceType: KV, metadata: { zone: "a" }, weight: 3 }, bearer(p.token));
    expect(res.registration).toMatchObject({ serviceType: KV, version: "1.2.0", runtimeId: p.runtimeId, endpoint: "http://127.0.0.1:7001", weight: 3 });
    const consumer = await t.handshake({ pluginName: "consumer" }, protocol);
    const hit = await registry.discover({ serviceType: KV, versionRange: "^1.0.0" }, bearer(consumer.token));
    expect(hit.selected?.registrationId).toBe(res.registration!.registrationId);
    const miss = await registry.discover({ serviceType: KV, versionRange: "^2.0.0" }, bearer(consumer.token));
    expect(miss.providers).toEqual([]);
    expect(miss.selected).toBeUndefined();
  });

  it("re-registering the same endpoint updates in place (idempotent)", async () => {
    t = await startTestHost();
    const { registry } = t.clients(protocol);
    const p = await t.handshake(provider(7001), protocol);
    const a = await registry.register({ serviceType: KV }, bearer(p.token));
    const b = await registry.register({ serviceType: KV, weight: 5 }, bearer(p.token));
    expect(b.registration!.registrationId).toBe(a.registration!.registrationId);
    expect(await t.host.store.listRegistrations()).toHaveLength(1);
  });

  it("refuses a service not declared at handshake, and one the host policy forbids", async () => {
    t = await startTestHost({ policy: { mayProvide: (plugin, type) => !(plugin === "evil" && type === KV) } });
    const { registry } = t.clients(protocol);
    const p = await t.handshake(provider(7001), protocol);
    expect(await codeOf(registry.register({ serviceType: "other.v1.Service" }, bearer(p.token)))).toBe(Code.PermissionDenied);
    const err = await t.clients(protocol).handshake.handshake({
      magicCookieKey: "PLUGBOARD_TEST", magicCookieValue: "c0ffee-plugins", coreProtocolVersion: 1, pluginVersion: "1.0.0", ...provider(7002, "evil"),
      enrolmentToken: await t.enrol("evil"),
    }).catch((e) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.PermissionDenied);
    expect(await t.host.store.listRegistrations()).toEqual([]);
  });

  it("refuses endpoints outside the declared base URL and bad fields, leaving nothing half-registered", async () => {
    t = await startTestHost();
    const { registry } = t.clients(protocol);
    const p = await t.handshake({ ...provider(7001), baseUrl: "http://127.0.0.1:7001/plugins/kv" }, protocol);
    for (const endpoint of [
      "http://127.0.0.1:7002/plugins/kv",
      "http://169.254.169.254/plugins/kv",
      "http://127.0.0.1:7001/plugins/kvx",
      "http://127.0.0.1:7001/plugins/kv/../admin",
      "https://127.0.0.1:7001/plugins/kv",
      "not a url",
    ]) {
      expect(await codeOf(registry.register({ serviceType: KV, endpoint }, bearer(p.token))), endpoint).toBe(Code.InvalidArgument);
    }
    const tooMany = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, "v"]));
    expect(await codeOf(registry.register({ serviceType: KV, metadata: tooMany }, bearer(p.token)))).toBe(Code.InvalidArgument);
    expect(await codeOf(registry.register({ serviceType: KV, metadata: { k: "v".repeat(4097) } }, bearer(p.token)))).toBe(Code.InvalidArgument);
    expect(await codeOf(registry.register({ serviceType: KV, version: "9.9.9" }, bearer(p.token)))).toBe(Code.InvalidArgument);
    expect(await t.host.store.listRegistrations()).toEqual([]);
    const ok = await registry.register({ serviceType: KV, endpoint: "http://127.0.0.1:7001/plugins/kv/v2" }, bearer(p.token));
    expect(ok.registration!.endpoint).toBe("http://127.0.0.1:7001/plugins/kv/v2");
  });

  it("lets a plugin unregister only its own registrations", async () => {
    t = await startTestHost();
    const { registry } = t.clients(protocol);
    const a = await t.handshake(provider(7001, "a"), protocol);
    const b = await t.handshake(provider(7002, "b"), protocol);
    const reg = await registry.register({ serviceType: KV }, bearer(a.token));
    const id = reg.registration!.registrationId;
    expect(await codeOf(registry.unregister({ registrationId: id }, bearer(b.token)))).toBe(Code.PermissionDenied);
    expect(await t.host.store.getRegistration(id)).toBeDefined();
    expect(await codeOf(registry.unregister({ registrationId: "rg_nope" }, bearer(a.token)))).toBe(Code.NotFound);
    expect(await codeOf(registry.unregister({ registrationId: id }, bearer(a.token)))).toBe("ok");
    expect(await t.host.store.getRegistration(id)).toBeUndefined();
  });

  it("selects with round-robin, weighted and skips unhealthy providers", async () => {
    t = await startTestHost();
    const { registry, lifecycle } = t.clients(protocol);
    const tokens: string[] = [];
    for (const port of [7001, 7002, 7003]) {
      const p = await t.handshake(provider(port, `kv${port}`), protocol);
      await registry.register({ serviceType: KV, weight: port === 7003 ? 1000 : 1 }, bearer(p.token));
      tokens.push(p.token);
    }
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await registry.discover({ serviceType: KV, strategy: SelectionStrategy.ROUND_ROBIN }, bearer(tokens[0]!));
      seen.add(r.selected!.endpoint);
    }
    expect(seen.size).toBe(3);
    let heavy = 0;
    for (let i = 0; i < 50; i++) {
      const r = await registry.discover({ serviceType: KV, strategy: SelectionStrategy.WEIGHTED }, bearer(tokens[0]!));
      if (r.selected!.endpoint.endsWith("7003")) heavy++;
    }
    expect(heavy).toBeGreaterThan(40);
    await lifecycle.reportHealth({ state: HealthState.UNHEALTHY, message: "disk full" }, bearer(tokens[2]!));
    const healthy = await registry.discover({ serviceType: KV }, bearer(tokens[0]!));
    expect(healthy.providers.map((p) => p.endpoint)).not.toContain("http://127.0.0.1:7003");
    const all = await registry.discover({ serviceType: KV, includeUnhealthy: true }, bearer(tokens[0]!));
    expect(all.providers).toHaveLength(3);
  });

  it("watch: snapshot first, then register → unregister → provider revoked", async () => {
    t = await startTestHost();
    const { registry, handshake } = t.clients(protocol);
    const a = await t.handshake(provider(7001, "a"), protocol);
    await registry.register({ serviceType: KV }, bearer(a.token));
    const watcher = await t.handshake({ pluginName: "watcher" }, protocol);
    const controller = new AbortController();
    const stream = registry.watch({ serviceTypes: [KV] }, { ...bearer(watcher.token), signal: controller.signal });
    const events: WatchResponse[] = [];
    const iterator = stream[Symbol.asyncIterator]();
    const next = async () => {
      const r = await iterator.next();
      events.push(r.value as WatchResponse);
      return r.value as WatchResponse;
    };
    const snapshot = await next();
    expect(snapshot.type).toBe(WatchEventType.SNAPSHOT);
    expect(snapshot.registrations.map((r) => r.runtimeId)).toEqual([a.runtimeId]);

    const b = await t.handshake(provider(7002, "b"), protocol);
    const reg = await registry.register({ serviceType: KV }, bearer(b.token));
    expect(await next()).toMatchObject({ type: WatchEventType.ADDED, registrations: [{ runtimeId: b.runtimeId }] });
    await registry.unregister({ registrationId: reg.registration!.registrationId }, bearer(b.token));
    expect(await next()).toMatchObject({ type: WatchEventType.REMOVED, removalReason: RemovalReason.UNREGISTERED });
    await handshake.revoke({}, bearer(a.token));
    expect(await next()).toMatchObject({
      type: WatchEventType.REMOVED,
      removalReason: RemovalReason.RUNTIME_REVOKED,
      registrations: [{ runtimeId: a.runtimeId }],
    });
    controller.abort();
  });

  it("watch: limits streams per caller", async () => {
    t = await startTestHost({ limits: { watchersPerRuntime: 2 } });
    const { registry } = t.clients(protocol);
    const w = await t.handshake({ pluginName: "watcher" }, protocol);
    const controller = new AbortController();
    const open = () => registry.watch({}, { ...bearer(w.token), signal: controller.signal })[Symbol.asyncIterator]();
    const s1 = open();
    const s2 = open();
    await s1.next();
    await s2.next();
    const err = await open().next().catch((e) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.ResourceExhausted);
    controller.abort();
  });
});
