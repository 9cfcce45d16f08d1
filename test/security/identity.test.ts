/**
 * Issue 12's core: a plugin name is something a runtime proves. An attacker who knows the
 * magic cookie (no secret) gets nothing: no runtime under kv's name, none of kv's traffic,
 * secrets or roles. Certificates prove only the name their SPIFFE ID carries. Enrolment
 * tokens prove one name, a bounded number of times, until they expire or are revoked, and
 * are kept only as digests.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { KVService } from "../../gen/kv/v1/kv_pb.js";
import { AdminService, NameProof } from "../../gen/plugboard/v1/admin_pb.js";
import { HandshakeService } from "../../gen/plugboard/v1/handshake_pb.js";
import { RegistryService } from "../../gen/plugboard/v1/registry_pb.js";
import { SecretsService } from "../../gen/plugboard/v1/secrets_pb.js";
import type { AuditEvent } from "../../src/audit/audit.js";
import { createDevCa, issueCertificate } from "../../src/identity/certs.js";
import { createMtlsAuthenticator } from "../../src/identity/mtls.js";
import { createRbac } from "../../src/policy/rbac.js";
import { createCountingProvider } from "../unit/secrets/fake-provider.js";
import { createMemoryStore, type Store } from "../../src/store/index.js";
import { createRedisStore } from "../../src/redis.js";
import { handshakeRequest, startTestHost, type TestHost } from "../helpers/host.js";
import { startKvProvider } from "../helpers/kv-provider.js";
import { findRedisServer, startRedis } from "../helpers/redis.js";
import { bearer, createTransports } from "../helpers/transports.js";

const KV = KVService.typeName;
const SECRET = "kv-db-password-value";
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function codeOf(promise: Promise<unknown>): Promise<Code | "ok"> {
  return promise.then(
    () => "ok" as const,
    (e) => ConnectError.from(e).code,
  );
}
const errorOf = async (promise: Promise<unknown>) => ConnectError.from(await promise.then(() => new Error("succeeded"), (e: unknown) => e));

async function host(options: Parameters<typeof startTestHost>[0] = {}, ...rest: [Parameters<typeof startTestHost>[1]?, Parameters<typeof startTestHost>[2]?]) {
  const t = await startTestHost(options, ...rest);
  cleanups.push(() => t.close());
  return t;
}

/** What an operator configures around the name kv: its secret, an admin role, an RBAC binding. */
function kvBoundEverywhere(audit?: AuditEvent[]) {
  return {
    secrets: { provider: createCountingProvider({ "db-password": SECRET }), policy: (plugin: string) => plugin === "kv" },
    runtimeRoles: (name: string) => (name === "kv" ? ["admin"] : []),
    ...(audit ? { audit: (e: AuditEvent) => audit.push(e) } : {}),
  };
}

describe("knowing the cookie is worth nothing", () => {
  it("default config: a stranger cannot handshake as kv, so cannot register kv's service, read its secrets or hold its roles", async () => {
    const t = await host(kvBoundEverywhere());
    const provider = await startKvProvider();
    cleanups.push(() => provider.close());
    const { handshake, registry } = t.clients("connect");

    const refused = await errorOf(
      handshake.handshake(handshakeRequest({ pluginName: "kv", baseUrl: provider.url, provides: [{ type: KV, version: "1.0.0" }], secrets: [{ name: "db-password" }] })),
    );
    expect(refused.code).toBe(Code.Unauthenticated);
    // The refusal says how to prove a name.
    expect(refused.rawMessage).toMatch(/not proven: present a launch secret .*enrolment token.*certificate.*JWT/);
    expect(await t.host.store.listRuntimes()).toEqual([]);

    // Without a runtime nothing else opens either.
    const transports = createTransports(t.url);
    cleanups.push(() => transports.close());
    const secrets = createClient(SecretsService, transports.make("connect"));
    const admin = createClient(AdminService, transports.make("connect"));
    expect(await codeOf(registry.register({ serviceType: KV, endpoint: provider.url }))).toBe(Code.Unauthenticated);
    expect(await codeOf(secrets.getSecrets({ names: ["db-password"] }))).toBe(Code.Unauthenticated);
    expect(await codeOf(admin.listRuntimes({}))).toBe(Code.Unauthenticated);

    // The real kv, enrolled, gets all three.
    const kv = await t.handshake({ pluginName: "kv", baseUrl: provider.url, provides: [{ type: KV, version: "1.0.0" }], secrets: [{ name: "db-password" }] });
    expect(await codeOf(registry.register({ serviceType: KV }, bearer(kv.token)))).toBe("ok");
    expect((await secrets.getSecrets({ names: ["db-password"] }, bearer(kv.token))).secrets.map((s) => new TextDecoder().decode(s.value))).toEqual([SECRET]);
    expect((await admin.listRuntimes({}, bearer(kv.token))).runtimes.map((r) => [r.pluginName, r.nameProof])).toEqual([["kv", NameProof.ENROLMENT]]);
  });

  it("with allowUnprovenNames, an unproven runtime cannot take kv, and under another name gets no secrets, roles or provider policy", async () => {
    const audit: AuditEvent[] = [];
    const rbac = createRbac({
      roles: { any: { allow: ["handshake", "discover:*", "register:*", "secret:*", "call:*"] }, ops: { allow: ["admin"] } },
      defaultRoles: ["any"],
      bindings: [{ pluginName: "billing", role: "ops" }],
    });
    // runtimeRoles gives kv the RBAC role "ops" (admin).
    const t = await host({ ...kvBoundEverywhere(audit), runtimeRoles: (n) => (n === "kv" ? ["ops"] : []), allowUnprovenNames: true, rbac, reservedNames: ["payments"] });
    const { handshake } = t.clients("connect");
    const unproven = (pluginName: string, extra: Record<string, unknown> = {}) => handshake.handshake(handshakeRequest({ pluginName, ...extra }));

    // Bound by runtime roles (kv), by an RBAC binding (billing), by reservation (payments): refused.
    for (const name of ["kv", "billing", "payments"]) {
      const err = await errorOf(unproven(name));
      expect(err.code, name).toBe(Code.PermissionDenied);
      expect(err.rawMessage, name).toMatch(/cannot take it/);
    }
    // A free name is admitted, marked unproven everywhere.
    const stranger = await unproven("stranger", { secrets: [{ name: "db-password", optional: true }] });
    const transports = createTransports(t.url);
    cleanups.push(() => transports.close());
    const secrets = createClient(SecretsService, transports.make("connect"));
    const admin = createClient(AdminService, transports.make("connect"));
    expect(await codeOf(secrets.getSecrets({ names: ["db-password"] }, bearer(stranger.runtimeToken)))).toBe(Code.PermissionDenied);
    expect(await codeOf(admin.listRuntimes({}, bearer(stranger.runtimeToken)))).toBe(Code.PermissionDenied);
    expect(audit.some((e) => e.event === "handshake" && e.outcome === "success" && e.reason === "stranger (name unproven)")).toBe(true);

    // A proven kv is admitted; its runtime is the admin view of who is proven and who is not.
    const kv = await t.handshake({ pluginName: "kv" });
    const listed = await admin.listRuntimes({}, bearer(kv.token));
    expect(Object.fromEntries(listed.runtimes.map((r) => [r.pluginName, NameProof[r.nameProof]]))).toEqual({ kv: "ENROLMENT", stranger: "UNPROVEN" });
  });

  it("a proven runtime takes its name back from unproven holders; replicas share a name only when each proved it", async () => {
    const t = await host({ allowUnprovenNames: true });
    const { handshake, registry } = t.clients("connect");
    const squatter = await handshake.handshake(handshakeRequest({ pluginName: "search" }));
    const first = await t.handshake({ pluginName: "search" });
    // The squatter's runtime is gone; a second unproven one is refused now that a proven runtime holds the name.
    expect(await codeOf(registry.discover({ serviceType: KV }, bearer(squatter.runtimeToken)))).toBe(Code.Unauthenticated);
    expect(await codeOf(handshake.handshake(handshakeRequest({ pluginName: "search" })))).toBe(Code.PermissionDenied);
    // A second proven replica joins.
    const second = await t.handshake({ pluginName: "search" });
    expect((await t.host.store.listRuntimes()).map((r) => r.runtimeId).sort()).toEqual([first.runtimeId, second.runtimeId].sort());
  });
});

describe("mTLS: the certificate's SPIFFE ID is the name", () => {
  it("a certificate for spiffe://td/plugin/other cannot claim kv; one for kv can, and status says mtls", async () => {
    const ca = await createDevCa({ commonName: "test CA" });
    const server = await issueCertificate(ca, { commonName: "host", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"], usage: "server" });
    const client = async (name: string) => {
      const cert = await issueCertificate(ca, { spiffeId: `spiffe://test.local/plugin/${name}`, usage: "client" });
      return { ca: ca.certPem, cert: cert.certPem, key: cert.keyPem };
    };
    const provider = await startKvProvider();
    cleanups.push(() => provider.close());
    const t = await host(
      { authenticators: [createMtlsAuthenticator({ trustDomains: ["test.local"], roles: (s) => (s.endsWith("/admin") ? ["admin"] : []) })] },
      { tls: { cert: server.certPem, key: server.keyPem, ca: ca.certPem, requestCert: true } },
    );
    const as = async (name: string) => {
      const transports = createTransports(t.url, await client(name));
      cleanups.push(() => transports.close());
      const transport = transports.make("connect");
      return { handshake: createClient(HandshakeService, transport), registry: createClient(RegistryService, transport), admin: createClient(AdminService, transport) };
    };
    const kvDecl = { pluginName: "kv", baseUrl: provider.url, provides: [{ type: KV, version: "1.0.0" }] };

    const other = await as("other");
    const err = await errorOf(other.handshake.handshake(handshakeRequest(kvDecl)));
    expect(err.code).toBe(Code.PermissionDenied);
    expect(err.rawMessage).toBe('the client certificate proves plugin name "other"; plugin_name "kv" is refused');
    // Not even with an enrolment token for kv: every proof presented must name the same plugin.
    expect(await codeOf(other.handshake.handshake(handshakeRequest({ ...kvDecl, enrolmentToken: await t.enrol("kv") })))).toBe(Code.PermissionDenied);
    expect(await t.host.store.listRuntimes()).toEqual([]);

    const kv = await as("kv");
    const admitted = await kv.handshake.handshake(handshakeRequest(kvDecl));
    expect(await codeOf(kv.registry.register({ serviceType: KV }, bearer(admitted.runtimeToken)))).toBe("ok");
    const listed = await (await as("admin")).admin.listRuntimes({});
    expect(listed.runtimes.map((r) => [r.pluginName, NameProof[r.nameProof]])).toEqual([["kv", "MTLS"]]);
  });
});

describe("enrolment tokens", () => {
  const hs = (t: TestHost, enrolmentToken: string, pluginName = "kv") =>
    codeOf(t.clients("connect").handshake.handshake(handshakeRequest({ pluginName, enrolmentToken })));

  it("admit exactly `uses` handshakes, of the one name they were issued for", async () => {
    const t = await host();
    const issued = await t.host.issueEnrolmentToken("kv", { uses: 2 });
    expect(issued.token).toMatch(/^pbet_[A-Za-z0-9_-]{43}$/);
    // Another name is refused, and does not spend a use.
    expect(await hs(t, issued.token, "other")).toBe(Code.PermissionDenied);
    expect(await hs(t, issued.token)).toBe("ok");
    expect(await hs(t, issued.token)).toBe("ok");
    expect(await hs(t, issued.token)).toBe(Code.Unauthenticated);
    expect(await hs(t, "pbet_" + "A".repeat(43))).toBe(Code.Unauthenticated);
  });

  it("a refused handshake (bad base_url) does not spend a use", async () => {
    const t = await host();
    const { token } = await t.host.issueEnrolmentToken("kv");
    const bad = handshakeRequest({ pluginName: "kv", enrolmentToken: token, baseUrl: "http://10.0.0.1/", provides: [{ type: KV, version: "1.0.0" }] });
    expect(await codeOf(t.clients("connect").handshake.handshake(bad))).toBe(Code.InvalidArgument);
    expect(await hs(t, token)).toBe("ok");
  });

  it("expire", async () => {
    const t = await host();
    const { token } = await t.host.issueEnrolmentToken("kv", { ttlMs: 1 });
    await new Promise((r) => setTimeout(r, 20)); // expiry only ever lies further behind
    expect(await hs(t, token)).toBe(Code.Unauthenticated);
  });

  it("are revoked by the embedding app and by an admin over AdminService", async () => {
    const t = await host({ authenticators: [], runtimeRoles: (name) => (name === "operator" ? ["admin"] : []) });
    const a = await t.host.issueEnrolmentToken("kv", { uses: 5 });
    expect(await t.host.revokeEnrolmentToken(a.id)).toBe(true);
    expect(await hs(t, a.token)).toBe(Code.Unauthenticated);
    expect(await t.host.revokeEnrolmentToken(a.id)).toBe(false);

    const operator = await t.handshake({ pluginName: "operator" });
    const transports = createTransports(t.url);
    cleanups.push(() => transports.close());
    const admin = createClient(AdminService, transports.make("connect"));
    const minted = await admin.issueEnrolmentToken({ pluginName: "kv", uses: 3 }, bearer(operator.token));
    expect(await hs(t, minted.token)).toBe("ok");
    await admin.revokeEnrolmentToken({ id: minted.id }, bearer(operator.token));
    expect(await hs(t, minted.token)).toBe(Code.Unauthenticated);
    // A plugin without the admin role may do neither.
    const plain = await t.handshake({ pluginName: "plain" });
    expect(await codeOf(admin.issueEnrolmentToken({ pluginName: "kv" }, bearer(plain.token)))).toBe(Code.PermissionDenied);
    expect(await codeOf(admin.issueEnrolmentToken({ pluginName: "Bad Name" }, bearer(operator.token)))).toBe(Code.InvalidArgument);
  });

  const stores: Array<[string, () => Promise<{ store: Store; dump(): Promise<string> }>]> = [
    [
      "memory",
      async () => {
        const store = createMemoryStore();
        const seen: unknown[] = [];
        // Everything the host hands the store, recorded.
        const recording = new Proxy(store, {
          get: (target, key) => {
            const value = Reflect.get(target, key) as unknown;
            return typeof value === "function" ? (...args: unknown[]) => (seen.push(key, args), (value as (...a: unknown[]) => unknown).apply(target, args)) : value;
          },
        });
        return { store: recording, dump: async () => JSON.stringify(seen) };
      },
    ],
  ];
  if (findRedisServer() !== undefined)
    stores.push([
      "redis",
      async () => {
        const redis = await startRedis();
        cleanups.push(() => redis.stop());
        const store = await createRedisStore({ url: redis.url });
        const { Redis } = await import("ioredis");
        const raw = new Redis(redis.url);
        cleanups.push(() => raw.disconnect());
        return {
          store,
          async dump() {
            const parts: string[] = [];
            for (const key of await raw.keys("*")) {
              const type = await raw.type(key);
              parts.push(key, type === "hash" ? JSON.stringify(await raw.hgetall(key)) : type === "string" ? String(await raw.get(key)) : "");
            }
            return parts.join("\n");
          },
        };
      },
    ]);

  it.each(stores)("are kept only as a SHA-256 digest (%s store)", async (_kind, make) => {
    const { store, dump } = await make();
    const t = await host({ store });
    const { token } = await t.host.issueEnrolmentToken("kv", { uses: 2 });
    expect(await hs(t, token)).toBe("ok");
    const stored = await dump();
    expect(stored).toContain((await import("../../src/tokens/tokens.js")).tokenDigest(token));
    expect(stored).not.toContain(token.slice("pbet_".length));
  });
});
