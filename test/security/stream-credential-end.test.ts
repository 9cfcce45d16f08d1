import http from "node:http";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { RegistryService } from "../../gen/plugboard/v1/registry_pb.js";
import { createDevCa, issueCertificate } from "../../src/identity/certs.js";
import { createJwtAuthenticator } from "../../src/identity/jwt.js";
import { createMtlsAuthenticator } from "../../src/identity/mtls.js";
import { createRedisStore } from "../../src/store/index.js";
import type { PluginHostOptions } from "../../src/host/options.js";
import { findRedisServer, useRedisServer } from "../helpers/redis.js";
import { startTestHost, type TestHost } from "../helpers/host.js";
import { bearer, createTransports, type ProtocolName } from "../helpers/transports.js";

/**
 * Issue 12, hole 3: a host stream lives no longer than the credential that opened it. Watch streams
 * used to end only when a registration the watcher owned was removed, so a revoked or expired
 * watcher (with nothing registered) kept receiving every registration change. Each stream here is a
 * real stream over loopback; each must end with Unauthenticated once the credential ends. The call
 * deadline (far beyond the expected end) makes a stream that outlives its credential fail the test
 * with DeadlineExceeded instead of hanging it.
 */
const DEADLINE_MS = 20_000;

/** Follows a server stream: `opened` once the first message arrived, `ended` with the code it ended with. */
function follow(stream: AsyncIterable<unknown>) {
  let markOpen!: () => void;
  const opened = new Promise<void>((resolve) => (markOpen = resolve));
  const ended = (async (): Promise<Code | "ok"> => {
    try {
      for await (const _ of stream) markOpen();
      return "ok";
    } catch (error) {
      return ConnectError.from(error).code;
    } finally {
      markOpen();
    }
  })();
  return { opened, ended };
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function host(options: Partial<PluginHostOptions> = {}): Promise<TestHost & { transport(p?: ProtocolName): ReturnType<ReturnType<typeof createTransports>["make"]> }> {
  const t = await startTestHost(options);
  const transports = createTransports(t.url);
  cleanups.push(() => t.close(), () => transports.close());
  return Object.assign(t, { transport: (p: ProtocolName = "connect") => transports.make(p) });
}

describe.each(["connect", "grpc"] as const)("over %s", (protocol) => {
  it("RegistryService.Watch ends Unauthenticated when the watcher revokes itself", async () => {
    const t = await host();
    const watcher = await t.handshake({ pluginName: "watcher" });
    const registry = createClient(RegistryService, t.transport(protocol));
    const stream = follow(registry.watch({}, { ...bearer(watcher.token), timeoutMs: DEADLINE_MS }));
    await stream.opened;
    await t.clients("connect").handshake.revoke({}, bearer(watcher.token));
    expect(await stream.ended).toBe(Code.Unauthenticated);
  });

  it("RegistryService.Watch ends Unauthenticated when its runtime token expires unrefreshed", async () => {
    const t = await host({ runtimeTokenTtlMs: 1_500 });
    const watcher = await t.handshake({ pluginName: "watcher" });
    const registry = createClient(RegistryService, t.transport(protocol));
    const stream = follow(registry.watch({}, { ...bearer(watcher.token), timeoutMs: DEADLINE_MS }));
    await stream.opened;
    expect(await stream.ended).toBe(Code.Unauthenticated);
  });

  it("grpc.health.v1.Health/Watch of an authenticated caller ends Unauthenticated on revocation", async () => {
    const t = await host();
    const watcher = await t.handshake({ pluginName: "watcher" });
    const health = createClient(Health, t.transport(protocol));
    const stream = follow(health.watch({ service: "" }, { ...bearer(watcher.token), timeoutMs: DEADLINE_MS }));
    await stream.opened;
    await t.clients("connect").handshake.revoke({}, bearer(watcher.token));
    expect(await stream.ended).toBe(Code.Unauthenticated);
  });
});

it("an admin revoking another runtime ends that runtime's streams", async () => {
  const t = await host({ policy: { isAdmin: (identity) => identity.pluginName === "admin" } });
  const admin = await t.handshake({ pluginName: "admin" });
  const watcher = await t.handshake({ pluginName: "watcher" });
  const stream = follow(createClient(RegistryService, t.transport()).watch({}, { ...bearer(watcher.token), timeoutMs: DEADLINE_MS }));
  await stream.opened;
  await t.clients("connect").handshake.revoke({ runtimeId: watcher.runtimeId }, bearer(admin.token));
  expect(await stream.ended).toBe(Code.Unauthenticated);
});

it("a runtime that keeps refreshing keeps its stream past its first token's expiry", async () => {
  const ttlMs = 2_000;
  const t = await host({ runtimeTokenTtlMs: ttlMs });
  const watcher = await t.handshake({ pluginName: "watcher" });
  const registry = createClient(RegistryService, t.transport());
  const events: unknown[] = [];
  const stream = registry.watch({}, { ...bearer(watcher.token), timeoutMs: DEADLINE_MS });
  const it = stream[Symbol.asyncIterator]();
  await it.next(); // snapshot
  // Refresh at a quarter of the lifetime until well past the first token's expiry.
  let token = watcher.token;
  const firstExpiry = Date.now() + ttlMs;
  while (Date.now() < firstExpiry + ttlMs / 2) {
    token = (await t.clients("connect").handshake.refreshToken({}, bearer(token))).runtimeToken;
    await new Promise((resolve) => setTimeout(resolve, ttlMs / 4));
  }
  // Still open: a registration made now reaches the watcher.
  const provider = await t.handshake({ pluginName: "kv", baseUrl: "http://127.0.0.1:9", provides: [{ type: "kv.v1.KVService", version: "1.0.0" }] });
  await t.clients("connect").registry.register({ serviceType: "kv.v1.KVService" }, bearer(provider.token));
  events.push((await it.next()).value);
  expect(events).toHaveLength(1);
  await it.return?.();
});

it("a JWT-authenticated watcher's stream ends Unauthenticated when the JWT's exp is reached", async () => {
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" };
  const jwks = http.createServer((_req, res) => res.end(JSON.stringify({ keys: [jwk] })));
  await new Promise<void>((r) => jwks.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise<void>((r) => jwks.close(() => r())));
  const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;
  const t = await host({
    authenticators: [createJwtAuthenticator({ jwksUrl, issuer: "https://idp.test", audience: "plugboard", clockToleranceSec: 0 })],
    // One watch per caller: a second one opens only if the first one's handler really ended.
    limits: { watchersPerRuntime: 1 },
  });
  const sign = (expSec: number) =>
    new SignJWT({})
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setIssuer("https://idp.test")
      .setAudience("plugboard")
      .setSubject("ops")
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + expSec)
      .sign(privateKey);
  const registry = createClient(RegistryService, t.transport());
  const stream = follow(registry.watch({}, { ...bearer(await sign(3)), timeoutMs: DEADLINE_MS }));
  await stream.opened;
  expect(await stream.ended).toBe(Code.Unauthenticated);

  // The handler let go of its watch slot: the same subject with a fresh JWT may watch again.
  const fresh = await sign(300);
  const again = await waitForSlot(async () => {
    const it = registry.watch({}, { ...bearer(fresh), timeoutMs: DEADLINE_MS })[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false); // the snapshot
    return it;
  });
  await again.return?.();
});

it("an mTLS caller's stream ends Unauthenticated when its certificate's notAfter passes", async () => {
  const ca = await createDevCa({ commonName: "test CA" });
  const server = await issueCertificate(ca, { commonName: "host", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"], usage: "server" });
  const client = await issueCertificate(ca, {
    spiffeId: "spiffe://test.local/operator/ops",
    usage: "client",
    notAfter: new Date(Date.now() + 3_000),
  });
  const t = await startTestHost(
    { authenticators: [createMtlsAuthenticator({ trustDomains: ["test.local"] })] },
    { tls: { cert: server.certPem, key: server.keyPem, ca: ca.certPem, requestCert: true } },
  );
  const transports = createTransports(t.url, { ca: ca.certPem, cert: client.certPem, key: client.keyPem });
  cleanups.push(() => t.close(), () => transports.close());
  const stream = follow(createClient(RegistryService, transports.make("grpc")).watch({}, { timeoutMs: DEADLINE_MS }));
  await stream.opened;
  expect(await stream.ended).toBe(Code.Unauthenticated);
});

/** The handler's cleanup runs when it sees its aborted signal, just after the client saw the end. */
async function waitForSlot<T>(attempt: () => Promise<T>): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (ConnectError.from(error).code !== Code.ResourceExhausted || tries >= 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

describe.skipIf(findRedisServer() === undefined)("hosts sharing a Redis store", () => {
  const redis = useRedisServer();
  it("a revocation on one host ends the watcher's stream on another", async () => {
    const a = await host({ store: await createRedisStore({ url: redis().url, keyPrefix: "stream-end:" }) });
    const b = await host({ store: await createRedisStore({ url: redis().url, keyPrefix: "stream-end:" }) });
    const watcher = await a.handshake({ pluginName: "watcher" });
    const stream = follow(createClient(RegistryService, a.transport()).watch({}, { ...bearer(watcher.token), timeoutMs: DEADLINE_MS }));
    await stream.opened;
    await b.clients("connect").handshake.revoke({}, bearer(watcher.token));
    expect(await stream.ended).toBe(Code.Unauthenticated);
  });
});
