/**
 * Every rule of the registry service, each with its code, message and audit record (found missing by
 * mutation testing of src/registry, docs/testing.md): who may register what and where, the limits on a
 * registration, re-registration in place, unregistering someone else's, Discover's validation, and the
 * bounds on Watch streams.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { HealthState, Protocol } from "../../gen/plugboard/v1/common_pb.js";
import { SelectionStrategy, WatchEventType } from "../../gen/plugboard/v1/registry_pb.js";
import type { AuditEvent } from "../../src/audit/audit.js";
import type { PluginHostOptions } from "../../src/host/options.js";
import { createAdminCredential } from "../../src/ops/admin-credential.js";
import { fileDescriptorSetOf } from "../../src/reflection/descriptor-set.js";
import { KVService } from "../../gen/kv/v1/kv_pb.js";
import { startTestHost, type TestHost } from "../helpers/host.js";
import { bearer } from "../helpers/transports.js";

const KV = "kv.v1.KVService";
const LOG = "log.v1.LogService";

/** The ConnectError's code and message, or "ok". */
const outcome = (p: Promise<unknown>) =>
  p.then(
    () => "ok" as const,
    (e: unknown) => {
      const error = ConnectError.from(e);
      return `${Code[error.code]}: ${error.rawMessage}`;
    },
  );

let t: TestHost | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function setup(options: Partial<PluginHostOptions> = {}) {
  const audit: AuditEvent[] = [];
  const admin = createAdminCredential();
  t = await startTestHost({ audit: (e) => audit.push(e), adminCredential: admin, ...options });
  const registry = t.clients("connect").registry;
  const provider = (name = "kv", port = 7001, version = "1.2.0", extra: Record<string, unknown> = {}) =>
    t!.handshake({ pluginName: name, baseUrl: `http://127.0.0.1:${port}`, provides: [{ type: KV, version }], ...extra });
  const events = (event: string) => audit.filter((e) => e.event === event);
  return { audit, admin, registry, provider, events };
}

describe("Register", () => {
  it("only a plugin runtime may register", async () => {
    const { registry, admin } = await setup();
    expect(await outcome(registry.register({ serviceType: KV }, bearer(admin.token)))).toBe("PermissionDenied: only a plugin runtime may do this");
  });

  it("a malformed service type is InvalidArgument", async () => {
    const { registry, provider } = await setup();
    const p = await provider();
    expect(await outcome(registry.register({ serviceType: "KV" }, bearer(p.token)))).toBe(
      "InvalidArgument: service_type: must be a fully qualified service name like pkg.v1.Service",
    );
  });

  it("a service not declared at handshake is PermissionDenied, audited", async () => {
    const { registry, provider, events } = await setup();
    const p = await provider();
    expect(await outcome(registry.register({ serviceType: "other.v1.Other" }, bearer(p.token)))).toBe(
      "PermissionDenied: other.v1.Other was not declared in provides at handshake",
    );
    expect(events("registration")).toEqual([
      expect.objectContaining({
        outcome: "failure",
        target: "other.v1.Other",
        reason: "other.v1.Other was not declared in provides at handshake",
        actor: expect.objectContaining({ runtimeId: p.runtimeId }),
      }),
    ]);
  });

  it("host policy on providers: asked with the proven name at every registration, a refusal audited", async () => {
    let allow = true;
    const asked: string[] = [];
    const { registry, provider, events } = await setup({
      policy: { mayProvide: (name, type) => (asked.push(`${name} ${type}`), allow) },
    });
    const p = await provider();
    expect(await outcome(registry.register({ serviceType: KV }, bearer(p.token)))).toBe("ok");
    allow = false;
    expect(await outcome(registry.register({ serviceType: KV }, bearer(p.token)))).toBe("PermissionDenied: host policy does not allow kv to provide kv.v1.KVService");
    expect(asked).toEqual([`kv ${KV}`, `kv ${KV}`, `kv ${KV}`]);
    expect(events("registration").map((e) => [e.outcome, e.reason])).toEqual([
      ["success", undefined],
      ["failure", "host policy does not allow kv to provide kv.v1.KVService"],
    ]);
  });

  it("version: empty means the declared one; another is InvalidArgument", async () => {
    const { registry, provider } = await setup();
    const p = await provider();
    expect((await registry.register({ serviceType: KV }, bearer(p.token))).registration?.version).toBe("1.2.0");
    expect((await registry.register({ serviceType: KV, version: "1.2.0" }, bearer(p.token))).registration?.version).toBe("1.2.0");
    expect(await outcome(registry.register({ serviceType: KV, version: "1.2.1" }, bearer(p.token)))).toBe(
      "InvalidArgument: version: must equal the version declared at handshake",
    );
    expect(await outcome(registry.register({ serviceType: KV, version: "latest" }, bearer(p.token)))).toBe("InvalidArgument: version: must be a semver version");
  });

  it("weight: up to 10000", async () => {
    const { registry, provider } = await setup();
    const p = await provider();
    expect((await registry.register({ serviceType: KV, weight: 10_000 }, bearer(p.token))).registration?.weight).toBe(10_000);
    expect(await outcome(registry.register({ serviceType: KV, weight: 10_001 }, bearer(p.token)))).toBe("InvalidArgument: weight: at most 10000");
  });

  it("metadata: bounded in total bytes, naming the limit", async () => {
    const { registry, provider } = await setup({ limits: { registrationMetadataBytes: 64 } });
    const p = await provider();
    expect(await outcome(registry.register({ serviceType: KV, metadata: { a: "x".repeat(40), b: "y".repeat(40) } }, bearer(p.token)))).toMatch(
      /^InvalidArgument: metadata: .*64/,
    );
    expect(await outcome(registry.register({ serviceType: KV, metadata: { a: "x" } }, bearer(p.token)))).toBe("ok");
  });

  it("the registration holds what was registered, the runtime's health, and protocols only when declared", async () => {
    const { registry, provider, events } = await setup();
    const p = await provider();
    const plain = (await registry.register({ serviceType: KV, metadata: { zone: "a" }, weight: 3 }, bearer(p.token))).registration!;
    expect(plain).toMatchObject({
      serviceType: KV,
      version: "1.2.0",
      runtimeId: p.runtimeId,
      pluginName: "kv",
      endpoint: "http://127.0.0.1:7001",
      metadata: { zone: "a" },
      weight: 3,
      health: 1,
      protocols: [],
    });
    expect((await t!.host.store.getRegistration(plain.registrationId))?.protocols).toBeUndefined();
    const both = await registry.register(
      { serviceType: KV, endpoint: "http://127.0.0.1:7001/v2", protocols: [Protocol.CONNECT, Protocol.GRPC, Protocol.CONNECT] },
      bearer(p.token),
    );
    expect(both.registration?.protocols).toEqual([Protocol.GRPC, Protocol.CONNECT]);
    expect(await outcome(registry.register({ serviceType: KV, protocols: [7 as Protocol] }, bearer(p.token)))).toBe(
      "InvalidArgument: protocols: unknown protocol 7 (GRPC, GRPC_WEB or CONNECT)",
    );
    expect(events("registration").filter((e) => e.outcome === "success")).toEqual([
      expect.objectContaining({ target: KV, actor: expect.objectContaining({ runtimeId: p.runtimeId }) }),
      expect.objectContaining({ target: KV }),
    ]);
  });

  it("the same endpoint again updates in place without taking another slot; another endpoint takes one", async () => {
    const { registry, provider } = await setup({ limits: { registrationsPerRuntime: 1 } });
    const p = await provider();
    const a = await registry.register({ serviceType: KV, weight: 1 }, bearer(p.token));
    const b = await registry.register({ serviceType: KV, weight: 2 }, bearer(p.token));
    expect(b.registration?.registrationId).toBe(a.registration?.registrationId);
    expect((await t!.host.store.getRegistration(a.registration!.registrationId))?.weight).toBe(2);
    expect(await outcome(registry.register({ serviceType: KV, endpoint: "http://127.0.0.1:7001/other" }, bearer(p.token)))).toMatch(
      /^ResourceExhausted: .*registrationsPerRuntime/,
    );
  });

  it("a descriptor set over descriptorSetBytes is InvalidArgument naming the limit", async () => {
    const { registry, provider } = await setup({ limits: { descriptorSetBytes: 8 } });
    const p = await provider();
    expect(await outcome(registry.register({ serviceType: KV, fileDescriptorSet: new Uint8Array(9) }, bearer(p.token)))).toBe(
      "InvalidArgument: file_descriptor_set: at most 8 bytes (limit descriptorSetBytes)",
    );
    expect(await t!.host.store.listRegistrations()).toEqual([]);
  });

  it("a descriptor set of exactly descriptorSetBytes is taken", async () => {
    const set = fileDescriptorSetOf([KVService]);
    const { registry, provider } = await setup({ limits: { descriptorSetBytes: set.byteLength } });
    const p = await provider();
    expect(await outcome(registry.register({ serviceType: KV, fileDescriptorSet: set }, bearer(p.token)))).toBe("ok");
  });

  it("an endpoint or metadata refused names its field", async () => {
    const { registry, provider } = await setup();
    const p = await provider();
    expect(await outcome(registry.register({ serviceType: KV, endpoint: "http://127.0.0.1:9999" }, bearer(p.token)))).toMatch(/^InvalidArgument: endpoint: /);
    expect(await outcome(registry.register({ serviceType: KV, metadata: { "": "x" } }, bearer(p.token)))).toMatch(/^InvalidArgument: metadata/);
  });

  it("answers with the lease to renew: registrationLeaseMs, or 0 without leases", async () => {
    const { registry, provider } = await setup({ registrationLeaseMs: 60_000 });
    const p = await provider();
    expect((await registry.register({ serviceType: KV }, bearer(p.token))).leaseMs).toBe(60_000);
  });
});

describe("Register: several services", () => {
  it("two services at the same endpoint are two registrations, each with an rg_ id", async () => {
    const { registry, provider } = await setup();
    const p = await provider("kv", 7001, "1.2.0", { provides: [{ type: KV, version: "1.2.0" }, { type: LOG, version: "1.2.0" }] });
    const kv = (await registry.register({ serviceType: KV }, bearer(p.token))).registration!;
    const log = (await registry.register({ serviceType: LOG }, bearer(p.token))).registration!;
    expect(kv.registrationId).toMatch(/^rg_./);
    expect(log.registrationId).toMatch(/^rg_./);
    expect(log.registrationId).not.toBe(kv.registrationId);
    expect((await registry.discover({ serviceType: KV }, bearer(p.token))).providers.map((r) => r.registrationId)).toEqual([kv.registrationId]);
    expect((await registry.discover({ serviceType: LOG }, bearer(p.token))).providers.map((r) => r.registrationId)).toEqual([log.registrationId]);
  });
});

describe("Unregister", () => {
  it("a registration id is required and at most 64 characters", async () => {
    const { registry, provider } = await setup();
    const p = await provider();
    expect(await outcome(registry.unregister({ registrationId: "" }, bearer(p.token)))).toBe("InvalidArgument: registration_id: required");
    expect(await outcome(registry.unregister({ registrationId: "r".repeat(65) }, bearer(p.token)))).toBe("InvalidArgument: registration_id: required");
    expect(await outcome(registry.unregister({ registrationId: "r".repeat(64) }, bearer(p.token)))).toBe("NotFound: registration not found");
  });

  it("only the owner or an admin, each audited", async () => {
    const { registry, provider, admin, events } = await setup();
    const a = await provider("a", 7001);
    const b = await provider("b", 7002);
    const first = (await registry.register({ serviceType: KV }, bearer(a.token))).registration!.registrationId;
    const second = (await registry.register({ serviceType: KV, endpoint: "http://127.0.0.1:7001/2" }, bearer(a.token))).registration!.registrationId;
    expect(await outcome(registry.unregister({ registrationId: first }, bearer(b.token)))).toBe(
      "PermissionDenied: a plugin may only unregister its own registrations",
    );
    expect(await outcome(registry.unregister({ registrationId: first }, bearer(a.token)))).toBe("ok");
    expect(await outcome(registry.unregister({ registrationId: second }, bearer(admin.token)))).toBe("ok");
    expect(await t!.host.store.listRegistrations()).toEqual([]);
    expect(events("unregistration")).toEqual([
      expect.objectContaining({ outcome: "failure", target: first, reason: "not owner", actor: expect.objectContaining({ runtimeId: b.runtimeId }) }),
      expect.objectContaining({ outcome: "success", target: first, actor: expect.objectContaining({ runtimeId: a.runtimeId }) }),
      expect.objectContaining({ outcome: "success", target: second }),
    ]);
  });
});

describe("Discover", () => {
  it("validates the service type and the version range", async () => {
    const { registry, provider } = await setup();
    const c = await provider("c");
    expect(await outcome(registry.discover({ serviceType: "kv" }, bearer(c.token)))).toBe(
      "InvalidArgument: service_type: must be a fully qualified service name like pkg.v1.Service",
    );
    expect(await outcome(registry.discover({ serviceType: KV, versionRange: "one" }, bearer(c.token)))).toBe(
      "InvalidArgument: version_range: must be a semver range",
    );
  });

  it("a weighted pick is never an unhealthy provider, however heavy", async () => {
    const { registry, provider } = await setup();
    const t2 = t!;
    const light = await provider("light", 7001);
    const heavy = await provider("heavy", 7002);
    await registry.register({ serviceType: KV, weight: 1 }, bearer(light.token));
    await registry.register({ serviceType: KV, weight: 10_000 }, bearer(heavy.token));
    await t2.clients("connect").lifecycle.reportHealth({ state: HealthState.UNHEALTHY, message: "disk full" }, bearer(heavy.token));
    for (let i = 0; i < 10; i++) {
      const r = await registry.discover({ serviceType: KV, strategy: SelectionStrategy.WEIGHTED }, bearer(light.token));
      expect(r.selected?.endpoint).toBe("http://127.0.0.1:7001");
    }
  });

  it("the pick comes with the first page only; a token is bound to the filters it was issued for", async () => {
    const { registry, provider } = await setup();
    for (let i = 0; i < 3; i++) {
      const p = await provider(`p${i}`, 7001 + i);
      await registry.register({ serviceType: KV }, bearer(p.token));
    }
    const c = await provider("c", 7100);
    const first = await registry.discover({ serviceType: KV, pageSize: 2 }, bearer(c.token));
    expect(first.providers).toHaveLength(2);
    expect(first.selected).toBeDefined();
    const next = await registry.discover({ serviceType: KV, pageSize: 2, pageToken: first.nextPageToken }, bearer(c.token));
    expect(next.providers).toHaveLength(1);
    expect(next.selected).toBeUndefined();
    expect(next.nextPageToken).toBe("");
    for (const other of [{ versionRange: "^1" }, { includeUnhealthy: true }]) {
      expect(await outcome(registry.discover({ serviceType: KV, pageSize: 2, pageToken: first.nextPageToken, ...other }, bearer(c.token)))).toMatch(
        /^InvalidArgument: page_token: /,
      );
    }
  });
});

describe("Watch", () => {
  const firstMessage = async (stream: AsyncIterable<unknown>) => {
    for await (const m of stream) return m;
    return undefined;
  };

  it("a snapshot larger than a page comes in parts, the last one marked complete", async () => {
    const { registry, provider } = await setup({ limits: { maxPageSize: 1, pageSize: 1 } });
    const a = await provider("a", 7001);
    const b = await provider("b", 7002);
    await registry.register({ serviceType: KV }, bearer(a.token));
    await registry.register({ serviceType: KV }, bearer(b.token));
    const parts: { type: WatchEventType; snapshotComplete: boolean; registrations: unknown[] }[] = [];
    for await (const m of registry.watch({ serviceTypes: [KV] }, bearer(a.token))) {
      parts.push(m);
      if (m.snapshotComplete) break;
    }
    expect(parts.map((m) => [m.type, m.registrations.length, m.snapshotComplete])).toEqual([
      [WatchEventType.SNAPSHOT, 1, false],
      [WatchEventType.SNAPSHOT, 1, true],
    ]);
  });

  it("the snapshot holds only the service types watched", async () => {
    const { registry, provider } = await setup();
    const p = await provider("kv", 7001, "1.2.0", { provides: [{ type: KV, version: "1.2.0" }, { type: LOG, version: "1.2.0" }] });
    await registry.register({ serviceType: KV }, bearer(p.token));
    await registry.register({ serviceType: LOG }, bearer(p.token));
    const first = (await firstMessage(registry.watch({ serviceTypes: [LOG] }, bearer(p.token)))) as { registrations: { serviceType: string }[] };
    expect(first.registrations.map((r) => r.serviceType)).toEqual([LOG]);
  });

  it("bounds the service types watched, and validates each", async () => {
    const { registry, provider } = await setup({ limits: { declarations: 2 } });
    const c = await provider("c");
    expect(await outcome(firstMessage(registry.watch({ serviceTypes: ["a.v1.A", "b.v1.B", "c.v1.C"] }, bearer(c.token))))).toBe(
      "InvalidArgument: service_types: too many",
    );
    expect(await outcome(firstMessage(registry.watch({ serviceTypes: ["a.v1.A", "bad"] }, bearer(c.token))))).toBe(
      "InvalidArgument: service_types[1]: must be a fully qualified service name like pkg.v1.Service",
    );
    expect(await outcome(firstMessage(registry.watch({ serviceTypes: ["a.v1.A", "b.v1.B"] }, bearer(c.token))))).toBe("ok");
  });

  it("at most watchersPerRuntime streams per caller; a closed stream frees its place", async () => {
    const { registry, provider } = await setup({ limits: { watchersPerRuntime: 2 } });
    const c = await provider("c");
    const other = await provider("other", 7002);
    const open = async (token: string) => {
      const controller = new AbortController();
      const it = registry.watch({}, { ...bearer(token), signal: controller.signal })[Symbol.asyncIterator]();
      const first = await it.next().then(
        (r) => r.value as { type: WatchEventType },
        (e: unknown) => ConnectError.from(e),
      );
      return { first, close: () => controller.abort() };
    };
    const one = await open(c.token);
    const two = await open(c.token);
    expect((one.first as { type: WatchEventType }).type).toBe(WatchEventType.SNAPSHOT);
    expect((two.first as { type: WatchEventType }).type).toBe(WatchEventType.SNAPSHOT);
    const three = await open(c.token);
    expect(three.first).toBeInstanceOf(ConnectError);
    expect((three.first as ConnectError).code).toBe(Code.ResourceExhausted);
    expect((three.first as ConnectError).rawMessage).toBe("at most 2 watch streams per caller");
    // Another caller has places of its own.
    const elsewhere = await open(other.token);
    expect((elsewhere.first as { type: WatchEventType }).type).toBe(WatchEventType.SNAPSHOT);
    one.close();
    // The server sees the abort a moment later: retry until the place is free (bounded).
    let again: Awaited<ReturnType<typeof open>> | undefined;
    for (let i = 0; i < 100; i++) {
      again = await open(c.token);
      if (!(again.first instanceof ConnectError)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(again!.first).not.toBeInstanceOf(ConnectError);
    // Closing one stream freed one place only: the two open now fill the caller's quota again.
    const four = await open(c.token);
    expect(four.first).toBeInstanceOf(ConnectError);
    expect((four.first as ConnectError).code).toBe(Code.ResourceExhausted);
    for (const s of [two, three, four, elsewhere, again!]) s.close();
  });

  it("a watcher whose own registration's lease ran out is told its runtime ended", async () => {
    const { registry, provider } = await setup({ registrationLeaseMs: 300 });
    const c = await provider("c");
    await registry.register({ serviceType: KV }, bearer(c.token));
    const it = registry.watch({ serviceTypes: ["other.v1.Other"] }, bearer(c.token))[Symbol.asyncIterator]();
    expect((await it.next()).value?.type).toBe(WatchEventType.SNAPSHOT);
    // No heartbeat renews the lease: the sweep removes the registration (lease_expired), with the runtime's
    // token still valid, so only the registry can end this stream.
    const end = await it.next().then(
      (r) => r,
      (e: unknown) => ConnectError.from(e),
    );
    expect(end).toBeInstanceOf(ConnectError);
    expect(end).toMatchObject({ code: Code.Unauthenticated, rawMessage: "the watching runtime ended" });
  });

  it("a watching runtime that is revoked gets Unauthenticated on its stream", async () => {
    const { registry, provider, admin } = await setup();
    const c = await provider("c");
    await registry.register({ serviceType: KV }, bearer(c.token));
    const it = registry.watch({}, bearer(c.token))[Symbol.asyncIterator]();
    expect((await it.next()).value?.type).toBe(WatchEventType.SNAPSHOT);
    await t!.clients("connect").handshake.revoke({ runtimeId: c.runtimeId }, bearer(admin.token));
    const end = await (async () => {
      for (;;) {
        const r = await it.next();
        if (r.done) return "done";
      }
    })().then(
      (v) => v,
      (e: unknown) => `${Code[ConnectError.from(e).code]}: ${ConnectError.from(e).rawMessage}`,
    );
    // The stream-lifetime interceptor or the hub ends it first, whichever sees the revocation first.
    expect(end).toMatch(/^Unauthenticated: the (watching|caller's) runtime ended/);
  });
});
