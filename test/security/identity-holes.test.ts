/**
 * Regression tests for issue 12's holes 2, 11, 13 and 14, on real loopback hosts:
 * one RBAC subject rule for host RPCs and routed calls, launch secrets spent only on
 * admission, JWT-admitted runtimes working end to end, and rate limits that fresh
 * runtimes cannot multiply.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { KVService } from "../../gen/kv/v1/kv_pb.js";
import { HandshakeService } from "../../gen/plugboard/v1/handshake_pb.js";
import { RegistryService } from "../../gen/plugboard/v1/registry_pb.js";
import { createDevCa, issueCertificate } from "../../src/identity/certs.js";
import { createJwtAuthenticator } from "../../src/identity/jwt.js";
import { createMtlsAuthenticator } from "../../src/identity/mtls.js";
import { createRbac } from "../../src/policy/rbac.js";
import { handshakeRequest, startTestHost, type TestHost } from "../helpers/host.js";
import { startKvProvider } from "../helpers/kv-provider.js";
import { bearer, createTransports } from "../helpers/transports.js";

const KV = KVService.typeName;
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

async function host(options: Parameters<typeof startTestHost>[0] = {}, ...rest: [Parameters<typeof startTestHost>[1]?, Parameters<typeof startTestHost>[2]?]) {
  const t = await startTestHost(options, ...rest);
  cleanups.push(() => t.close());
  return t;
}

async function kvProvider() {
  const provider = await startKvProvider();
  cleanups.push(() => provider.close());
  return provider;
}

describe("hole 2: one RBAC subject rule for host RPCs and routed calls", () => {
  it("a role bound to the certificate subject holds for the runtime's routed calls", async () => {
    const ca = await createDevCa({ commonName: "test CA" });
    const server = await issueCertificate(ca, { commonName: "host", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"], usage: "server" });
    const client = async (name: string) => {
      const cert = await issueCertificate(ca, { spiffeId: `spiffe://test.local/plugin/${name}`, usage: "client" });
      return { ca: ca.certPem, cert: cert.certPem, key: cert.keyPem };
    };
    const rbac = createRbac({
      roles: {
        plugin: { allow: ["handshake", "discover:*", "register:kv.v1.*"] },
        reader: { allow: ["call:kv.v1.KVService/Get"] },
      },
      // Bound to the certificate subject only: no pluginName binding to fall back on.
      bindings: [
        { subject: "spiffe://test.local/plugin/*", role: "plugin" },
        { subject: "spiffe://test.local/plugin/consumer", role: "reader" },
      ],
    });
    const provider = await kvProvider();
    const t = await host(
      { authenticators: [createMtlsAuthenticator({ trustDomains: ["test.local"] })], rbac },
      { tls: { cert: server.certPem, key: server.keyPem, ca: ca.certPem, requestCert: true } },
    );
    const as = async (name: string) => {
      const transports = createTransports(t.url, await client(name));
      cleanups.push(() => transports.close());
      const transport = transports.make("connect");
      return { handshake: createClient(HandshakeService, transport), registry: createClient(RegistryService, transport), kv: createClient(KVService, transport) };
    };
    const kv = await as("kv");
    const p = await kv.handshake.handshake(handshakeRequest({ pluginName: "kv", baseUrl: provider.url, provides: [{ type: KV, version: "1.0.0" }] }));
    provider.setKey(p.callerSigningKey);
    await kv.registry.register({ serviceType: KV }, bearer(p.runtimeToken));

    const consumer = await as("consumer");
    const c = await consumer.handshake.handshake(handshakeRequest({ pluginName: "consumer", requires: [{ type: KV, versionRange: "^1.0.0" }] }));
    // Host RPC and routed call judge the same subject: the certificate's.
    expect(await codeOf(consumer.registry.discover({ serviceType: KV }, bearer(c.runtimeToken)))).toBe("ok");
    expect(await codeOf(consumer.kv.get({ key: "a" }, bearer(c.runtimeToken)))).toBe("ok");
    // And the role gives Get only.
    expect(await codeOf(consumer.kv.put({ key: "a" }, bearer(c.runtimeToken)))).toBe(Code.PermissionDenied);
  });
});

describe("hole 11: a launch secret is spent only when its plugin is admitted", () => {
  const req = (init: Record<string, unknown>) => handshakeRequest({ pluginName: "kv", ...init });

  it.each([
    ["a bad base_url", { baseUrl: "http://169.254.169.254/", provides: [{ type: KV, version: "1.0.0" }] }, Code.InvalidArgument],
    ["an unknown capability", { capabilities: ["hostlog.v1.LogService"] }, Code.InvalidArgument],
    ["host policy", { baseUrl: "http://127.0.0.1:9", provides: [{ type: "admin.v1.Backdoor", version: "1.0.0" }] }, Code.PermissionDenied],
  ])("a refusal for %s leaves the secret usable", async (_why, init, code) => {
    const t = await host({ requireLaunchSecret: true, policy: { mayProvide: (_name, type) => type !== "admin.v1.Backdoor" } });
    const { handshake } = t.clients("connect");
    const secret = t.host.issueLaunchSecret("kv");
    expect(await codeOf(handshake.handshake(req({ launchSecret: secret, ...init })))).toBe(code);
    expect(await codeOf(handshake.handshake(req({ launchSecret: secret })))).toBe("ok");
    expect(await codeOf(handshake.handshake(req({ launchSecret: secret })))).toBe(Code.Unauthenticated);
  });

  it("an attempt under another plugin's name is refused without burning the owner's secret", async () => {
    const t = await host({ requireLaunchSecret: true });
    const { handshake } = t.clients("connect");
    const secret = t.host.issueLaunchSecret("kv");
    const err = ConnectError.from(await handshake.handshake(req({ pluginName: "thief", launchSecret: secret })).catch((e) => e));
    expect([Code.PermissionDenied, Code.Unauthenticated]).toContain(err.code);
    expect(err.rawMessage).not.toContain(secret);
    expect(await codeOf(handshake.handshake(req({ launchSecret: secret })))).toBe("ok");
  });
});

describe("hole 13: a runtime admitted with a JWT works end to end", () => {
  it("handshake with a JWT, then register, routed calls and refresh with the runtime token", async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" };
    const jwks = http.createServer((_req, res) => res.end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((r) => jwks.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise<void>((r) => jwks.close(() => r())));
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;
    const sign = (sub: string) =>
      new SignJWT({ plugin: sub }).setProtectedHeader({ alg: "ES256", kid: "k1" }).setIssuer("https://idp.test").setAudience("plugboard")
        .setSubject(sub).setIssuedAt().setExpirationTime("5m").sign(privateKey);

    const provider = await kvProvider();
    const t = await host({
      authenticators: [createJwtAuthenticator({ jwksUrl, issuer: "https://idp.test", audience: "plugboard", pluginNameClaim: "plugin" })],
    });
    const { handshake, registry } = t.clients("connect");
    const transports = createTransports(t.url);
    cleanups.push(() => transports.close());
    const kv = createClient(KVService, transports.make("grpc"));

    const p = await handshake.handshake(
      handshakeRequest({ pluginName: "kv", baseUrl: provider.url, provides: [{ type: KV, version: "1.0.0" }] }),
      bearer(await sign("kv")),
    );
    provider.setKey(p.callerSigningKey);
    expect(await codeOf(registry.register({ serviceType: KV }, bearer(p.runtimeToken)))).toBe("ok");

    const c = await handshake.handshake(
      handshakeRequest({ pluginName: "consumer", requires: [{ type: KV, versionRange: "^1.0.0" }] }),
      bearer(await sign("consumer")),
    );
    expect((await kv.get({ key: "a" }, bearer(c.runtimeToken))).caller).toBe(`runtime:${c.runtimeId}`);
    expect((await kv.get({ key: "a" }, bearer(c.runtimeToken))).found).toBe(false);
    const refreshed = await handshake.refreshToken({}, bearer(c.runtimeToken));
    expect(await codeOf(kv.get({ key: "a" }, bearer(refreshed.runtimeToken)))).toBe("ok");
    expect(await codeOf(kv.get({ key: "a" }, bearer(c.runtimeToken)))).toBe(Code.Unauthenticated);
  });
});

describe("hole 13 with the SDK: plugins admitted by JWT serve and call through the host", () => {
  it("provider and consumer send a JWT with their handshake only, then register, call and refresh on their runtime tokens", async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" };
    let jwksFetches = 0;
    const jwks = http.createServer((_req, res) => (jwksFetches++, res.end(JSON.stringify({ keys: [jwk] }))));
    await new Promise<void>((r) => jwks.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise<void>((r) => jwks.close(() => r())));
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;
    const jwtFor = (name: string) => () =>
      new SignJWT({ pb: { plugin: name } }).setProtectedHeader({ alg: "ES256", kid: "k1" }).setIssuer("https://idp.test")
        .setAudience("plugboard").setSubject(`workload-${name}`).setIssuedAt().setExpirationTime("5m").sign(privateKey);
    // Short runtime tokens, so the SDK refreshes several times during the test.
    const refreshes: string[] = [];
    const t = await host({
      runtimeTokenTtlMs: 1_500,
      audit: (e) => void (e.event === "token.refresh" && e.outcome === "success" && refreshes.push(e.target ?? "")),
      authenticators: [createJwtAuthenticator({ jwksUrl, issuer: "https://idp.test", audience: "plugboard", pluginNameClaim: "pb.plugin" })],
    });
    const { kvProvider: sdkProvider, kvConsumer: sdkConsumer, bytes } = await import("../integration/sdk/harness.js");
    const provider = sdkProvider(t.url, {}, { handshakeJwt: jwtFor("kv-provider") });
    await provider.start();
    cleanups.push(() => provider.stop());
    const consumer = sdkConsumer(t.url, { handshakeJwt: jwtFor("consumer") });
    await consumer.start();
    cleanups.push(() => consumer.stop());

    const kv = consumer.client(KVService);
    await kv.put({ key: "k", value: bytes("v") });
    const firstRuntime = consumer.runtimeId;
    const runtimes = await t.host.store.listRuntimes();
    expect(runtimes.map((r) => [r.pluginName, r.nameProof, r.boundSubject]).sort()).toEqual([
      ["consumer", "jwt", "jwt:https://idp.test#workload-consumer"],
      ["kv-provider", "jwt", "jwt:https://idp.test#workload-kv-provider"],
    ]);
    // Calls keep working while the consumer refreshes its token twice; it never has to handshake again.
    const deadline = Date.now() + 15_000;
    while (refreshes.filter((id) => id === firstRuntime).length < 2) {
      expect(Date.now(), "two refreshes in time").toBeLessThan(deadline);
      expect((await kv.get({ key: "k" })).found).toBe(true);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await kv.get({ key: "k" })).found).toBe(true);
    expect(consumer.runtimeId).toBe(firstRuntime);
    expect(jwksFetches).toBeGreaterThan(0);
  }, 20_000);
});

describe("hole 14: rate limits are keyed on the proven name, not on fresh runtimes", () => {
  const POINTS = 3;

  async function callsAccepted(t: TestHost, names: string[]): Promise<number> {
    const provider = await kvProvider();
    const p = await t.handshake({ pluginName: "kv", baseUrl: provider.url, provides: [{ type: KV, version: "1.0.0" }] });
    provider.setKey(p.signingKey);
    await t.clients("connect").registry.register({ serviceType: KV }, bearer(p.token));
    const transports = createTransports(t.url);
    cleanups.push(() => transports.close());
    const kv = createClient(KVService, transports.make("connect"));
    let accepted = 0;
    for (const name of names) {
      const c = await t.handshake({ pluginName: name, requires: [{ type: KV, versionRange: "*" }] });
      if ((await codeOf(kv.get({ key: "k" }, bearer(c.token)))) === "ok") accepted++;
    }
    return accepted;
  }

  it("six runtimes of one plugin share its one budget", async () => {
    const t = await host({ rateLimit: { perCaller: { points: POINTS, durationSec: 600 } } });
    expect(await callsAccepted(t, Array(6).fill("consumer"))).toBe(POINTS);
  });

  it("unproven runtimes share the budget of their peer address, whatever names they claim", async () => {
    const t = await host({ allowUnprovenNames: true, rateLimit: { perCaller: { points: POINTS, durationSec: 600 } } });
    const names = ["c1", "c2", "c3", "c4", "c5", "c6"];
    // Handshake them unproven (the helper would enrol them otherwise).
    const provider = await kvProvider();
    const p = await t.handshake({ pluginName: "kv", baseUrl: provider.url, provides: [{ type: KV, version: "1.0.0" }] });
    provider.setKey(p.signingKey);
    await t.clients("connect").registry.register({ serviceType: KV }, bearer(p.token));
    const transports = createTransports(t.url);
    cleanups.push(() => transports.close());
    const kv = createClient(KVService, transports.make("connect"));
    let accepted = 0;
    for (const name of names) {
      const c = await t.handshake({ pluginName: name, requires: [{ type: KV, versionRange: "*" }], unproven: true });
      if ((await codeOf(kv.get({ key: "k" }, bearer(c.token)))) === "ok") accepted++;
    }
    expect(accepted).toBe(POINTS);
  });
});
