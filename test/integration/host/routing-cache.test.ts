import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { HealthState } from "../../../gen/plugboard/v1/common_pb.js";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { bearer } from "../../helpers/transports.js";
import { clientFactory, startProvider } from "../router/harness.js";
import { tokenDigest } from "../../../src/tokens/tokens.js";

// The routing decisions cache the caller's declared requires and the matching providers of a
// service (src/host/routing.ts). These calls go through a real host right after each state change:
// a stale cache would let them through or route them to a provider that is gone.
const KV = KVService.typeName;

async function codeOf(p: Promise<unknown>): Promise<Code | "ok"> {
  return p.then(
    () => "ok" as const,
    (e) => ConnectError.from(e).code,
  );
}

let t: TestHost | undefined;
const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await t?.close();
  t = undefined;
});

async function setUp() {
  t = await startTestHost();
  const provider = await startProvider();
  const clients = clientFactory();
  closers.push(() => provider.close(), () => clients.close());
  const { registry } = t.clients("connect");
  const p = await t.handshake({ pluginName: "kv", baseUrl: provider.url, provides: [{ type: KV, version: "1.2.0" }] });
  const reg = await registry.register({ serviceType: KV }, bearer(p.token));
  const consumer = await t.handshake({ pluginName: "consumer", requires: [{ type: KV, versionRange: "^1.0.0" }] });
  const kv = clients.client("connect", t.url, consumer.token);
  return { t, registry, provider: p, registrationId: reg.registration!.registrationId, consumer, kv };
}

describe("routed calls after state changes (routing caches)", () => {
  it("a revoked consumer is refused on its very next call", async () => {
    const s = await setUp();
    expect(await codeOf(s.kv.get({ key: "a" }))).toBe("ok");
    await s.t.clients("connect").handshake.revoke({}, bearer(s.consumer.token));
    expect(await codeOf(s.kv.get({ key: "a" }))).toBe(Code.Unauthenticated);
  });

  // Known tokens are answered from an identity cache (src/identity/token-identity-cache.ts): these
  // calls come right after each change that must end a token, with the cache warm.
  it("after a refresh the old token is refused on its very next call, the new one works at once", async () => {
    const s = await setUp();
    for (let i = 0; i < 3; i++) expect(await codeOf(s.kv.get({ key: "a" }))).toBe("ok");
    const refreshed = await s.t.clients("connect").handshake.refreshToken({}, bearer(s.consumer.token));
    expect(await codeOf(s.kv.get({ key: "a" }))).toBe(Code.Unauthenticated);
    const clients = clientFactory();
    closers.push(() => clients.close());
    expect(await codeOf(clients.client("connect", s.t.url, refreshed.runtimeToken).get({ key: "a" }))).toBe("ok");
  });

  it("a runtime removed or its token deleted through host.store is refused on its very next call", async () => {
    const s = await setUp();
    for (let i = 0; i < 3; i++) expect(await codeOf(s.kv.get({ key: "a" }))).toBe("ok");
    await s.t.host.store.removeRuntime(s.consumer.runtimeId, "revoked");
    expect(await codeOf(s.kv.get({ key: "a" }))).toBe(Code.Unauthenticated);

    const other = await s.t.handshake({ pluginName: "consumer2", requires: [{ type: KV, versionRange: "^1.0.0" }] });
    const clients = clientFactory();
    closers.push(() => clients.close());
    const kv = clients.client("grpc", s.t.url, other.token);
    for (let i = 0; i < 3; i++) expect(await codeOf(kv.get({ key: "a" }))).toBe("ok");
    await s.t.host.store.deleteCredential(tokenDigest(other.token));
    expect(await codeOf(kv.get({ key: "a" }))).toBe(Code.Unauthenticated);
  });

  it("a token past its expiry (host clock) is refused on its very next call", async () => {
    let skew = 0;
    t = await startTestHost({ now: () => Date.now() + skew });
    const provider = await startProvider();
    const clients = clientFactory();
    closers.push(() => provider.close(), () => clients.close());
    const p = await t.handshake({ pluginName: "kv", baseUrl: provider.url, provides: [{ type: KV, version: "1.2.0" }] });
    await t.clients("connect").registry.register({ serviceType: KV }, bearer(p.token));
    const consumer = await t.handshake({ pluginName: "consumer", requires: [{ type: KV, versionRange: "^1.0.0" }] });
    const shortLived = (await t.host.tokens.issue("runtime", consumer.runtimeId, 60_000)).token;
    const kv = clients.client("grpc", t.url, shortLived);
    for (let i = 0; i < 3; i++) expect(await codeOf(kv.get({ key: "a" }))).toBe("ok");
    skew = 60_000;
    expect(await codeOf(kv.get({ key: "a" }))).toBe(Code.Unauthenticated);
  });

  it("unregistering, re-registering, an unhealthy report and revoking the provider take effect at once", async () => {
    const s = await setUp();
    expect(await codeOf(s.kv.get({ key: "a" }))).toBe("ok");
    await s.registry.unregister({ registrationId: s.registrationId }, bearer(s.provider.token));
    expect(await codeOf(s.kv.get({ key: "a" }))).toBe(Code.Unavailable);
    await s.registry.register({ serviceType: KV }, bearer(s.provider.token));
    expect(await codeOf(s.kv.get({ key: "a" }))).toBe("ok");
    await s.t.host.store.setHealth(s.provider.runtimeId, HealthState.UNHEALTHY, "down", Date.now());
    expect(await codeOf(s.kv.get({ key: "a" }))).toBe(Code.Unavailable);
    await s.t.host.store.setHealth(s.provider.runtimeId, HealthState.HEALTHY, "", Date.now());
    expect(await codeOf(s.kv.get({ key: "a" }))).toBe("ok");
    await s.t.clients("connect").handshake.revoke({}, bearer(s.provider.token));
    expect(await codeOf(s.kv.get({ key: "a" }))).toBe(Code.Unavailable);
  });

  it("a new provider in the declared range joins the rotation; one out of range never does", async () => {
    const s = await setUp();
    expect(await codeOf(s.kv.get({ key: "a" }))).toBe("ok");
    const other = await startProvider();
    closers.push(() => other.close());
    const { registry } = s.t.clients("connect");
    const v2 = await s.t.handshake({ pluginName: "kv2", baseUrl: other.url, provides: [{ type: KV, version: "2.0.0" }] });
    await registry.register({ serviceType: KV }, bearer(v2.token));
    const v1b = await s.t.handshake({ pluginName: "kv1b", baseUrl: other.url, provides: [{ type: KV, version: "1.5.0" }] });
    await registry.register({ serviceType: KV }, bearer(v1b.token));
    const pinned = (pin: string) => codeOf(s.kv.get({ key: "a" }, { headers: { "plugboard-provider": pin } }));
    expect(await pinned(v1b.runtimeId)).toBe("ok");
    expect(await pinned(v2.runtimeId)).toBe(Code.Unavailable);
  });
});
