import http from "node:http";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { AdminService } from "../../../gen/plugboard/v1/admin_pb.js";
import { HandshakeService } from "../../../gen/plugboard/v1/handshake_pb.js";
import { RegistryService } from "../../../gen/plugboard/v1/registry_pb.js";
import { createDevCa, issueCertificate } from "../../../src/identity/certs.js";
import { createJwtAuthenticator } from "../../../src/identity/jwt.js";
import { createMtlsAuthenticator } from "../../../src/identity/mtls.js";
import { createRbac } from "../../../src/policy/rbac.js";
import { createTransports, bearer } from "../../helpers/transports.js";
import { handshakeRequest, startTestHost, type TestHost } from "../../helpers/host.js";
import { startKvProvider } from "../../helpers/kv-provider.js";

const KV = "kv.v1.KVService";
const rbac = () =>
  createRbac({
    roles: {
      plugin: { allow: ["handshake", "discover:*", "register:kv.v1.*"] },
      reader: { allow: ["call:kv.v1.KVService"], deny: ["call:kv.v1.KVService/Put"] },
      operator: { allow: ["admin", "call:kv.v1.KVService/Get"] },
    },
    bindings: [
      { subject: "spiffe://test.local/plugin/*", role: "plugin" },
      { pluginName: "consumer", role: "reader" },
      { pluginName: "kv", role: "plugin" },
      { subject: "jwt:https://idp.test#ops", role: "operator" },
    ],
  });

async function codeOf(promise: Promise<unknown>): Promise<Code | "ok"> {
  return promise.then(
    () => "ok" as const,
    (e) => ConnectError.from(e).code,
  );
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("mTLS host", () => {
  async function setup() {
    const ca = await createDevCa({ commonName: "test CA" });
    const server = await issueCertificate(ca, { commonName: "host", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"], usage: "server" });
    const client = async (name: string) => {
      const cert = await issueCertificate(ca, { spiffeId: `spiffe://test.local/plugin/${name}`, usage: "client" });
      return { ca: ca.certPem, cert: cert.certPem, key: cert.keyPem };
    };
    const provider = await startKvProvider();
    const t: TestHost = await startTestHost(
      { authenticators: [createMtlsAuthenticator({ trustDomains: ["test.local"] })], rbac: rbac() },
      { tls: { cert: server.certPem, key: server.keyPem, ca: ca.certPem, requestCert: true } },
      await client("kv"),
    );
    cleanups.push(() => provider.close(), () => t.close());
    const connectAs = async (name: string) => {
      const transports = createTransports(t.url, await client(name));
      cleanups.push(() => transports.close());
      const transport = transports.make("connect");
      return {
        handshake: createClient(HandshakeService, transport),
        registry: createClient(RegistryService, transport),
        kv: createClient(KVService, transport),
      };
    };
    return { t, provider, connectAs };
  }

  it("binds the runtime token to the handshake certificate; replay from another certificate is refused", async () => {
    const { t, provider, connectAs } = await setup();
    const kvPlugin = await connectAs("kv");
    const admitted = await kvPlugin.handshake.handshake(
      handshakeRequest({ baseUrl: provider.url, provides: [{ type: KV, version: "1.0.0" }] }),
    );
    expect(await codeOf(kvPlugin.registry.register({ serviceType: KV }, bearer(admitted.runtimeToken)))).toBe("ok");
    const thief = await connectAs("other");
    const err = ConnectError.from(await thief.registry.discover({ serviceType: KV }, bearer(admitted.runtimeToken)).catch((e) => e));
    expect(err.code).toBe(Code.Unauthenticated);
    expect(err.message).toMatch(/bound to another client identity/);
    expect(await t.host.store.listRegistrations()).toHaveLength(1);
  });

  it("applies RBAC to host RPCs and routed calls, deny rules winning", async () => {
    const { provider, connectAs } = await setup();
    const kvPlugin = await connectAs("kv");
    const p = await kvPlugin.handshake.handshake(handshakeRequest({ baseUrl: provider.url, provides: [{ type: KV, version: "1.0.0" }] }));
    provider.setKey(p.callerSigningKey);
    await kvPlugin.registry.register({ serviceType: KV }, bearer(p.runtimeToken));

    const consumer = await connectAs("consumer");
    const c = await consumer.handshake.handshake(handshakeRequest({ pluginName: "consumer", requires: [{ type: KV, versionRange: "^1.0.0" }] }));
    const got = await consumer.kv.get({ key: "a" }, bearer(c.runtimeToken));
    expect(got.caller).toBe(`runtime:${c.runtimeId}`);
    expect(await codeOf(consumer.kv.put({ key: "a" }, bearer(c.runtimeToken)))).toBe(Code.PermissionDenied);

    // The plugin role may register kv.v1.* only; a consumer certificate claiming another service is refused by RBAC.
    const rogue = await connectAs("rogue");
    const r = await rogue.handshake.handshake(
      handshakeRequest({ pluginName: "rogue", baseUrl: provider.url, provides: [{ type: "admin.v1.Backdoor", version: "1.0.0" }] }),
    );
    const denied = ConnectError.from(await rogue.registry.register({ serviceType: "admin.v1.Backdoor" }, bearer(r.runtimeToken)).catch((e) => e));
    expect(denied.code).toBe(Code.PermissionDenied);
    expect(denied.message).toContain("register:admin.v1.Backdoor");
  });
});

describe("JWT callers", () => {
  it("an operator JWT may list runtimes and call what RBAC allows; a bad JWT is refused, not passed over", async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" };
    const jwks = http.createServer((_req, res) => res.end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((r) => jwks.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise<void>((r) => jwks.close(() => r())));
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;
    const sign = (sub: string, audience = "plugboard") =>
      new SignJWT({}).setProtectedHeader({ alg: "ES256", kid: "k1" }).setIssuer("https://idp.test").setAudience(audience)
        .setSubject(sub).setIssuedAt().setExpirationTime("5m").sign(privateKey);

    const provider = await startKvProvider();
    const t = await startTestHost({
      authenticators: [createJwtAuthenticator({ jwksUrl, issuer: "https://idp.test", audience: "plugboard" })],
      rbac: rbac(),
    });
    cleanups.push(() => provider.close(), () => t.close());
    const p = await t.handshake({ baseUrl: provider.url, provides: [{ type: KV, version: "1.0.0" }] });
    provider.setKey(p.signingKey);
    await t.clients("connect").registry.register({ serviceType: KV }, bearer(p.token));

    const ops = await sign("ops");
    const transports = createTransports(t.url);
    cleanups.push(() => transports.close());
    const admin = createClient(AdminService, transports.make("grpc"));
    const kv = createClient(KVService, transports.make("grpc"));
    const listed = await admin.listRuntimes({}, bearer(ops));
    expect(listed.runtimes.map((r) => r.runtimeId)).toEqual([p.runtimeId]);
    expect((await kv.get({ key: "x" }, bearer(ops))).caller).toBe("jwt:https://idp.test#ops");
    expect(await codeOf(kv.put({ key: "x" }, bearer(ops)))).toBe(Code.PermissionDenied);
    expect(await codeOf(admin.listRuntimes({}, bearer(await sign("mallory"))))).toBe(Code.PermissionDenied);
    expect(await codeOf(admin.listRuntimes({}, bearer(await sign("ops", "someone-else"))))).toBe(Code.Unauthenticated);
    expect(await codeOf(kv.get({ key: "x" }, bearer(ops.slice(0, -4) + "AAAA")))).toBe(Code.Unauthenticated);
  });
});
