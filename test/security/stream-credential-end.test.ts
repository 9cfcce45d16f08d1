import http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { KVService } from "../../gen/kv/v1/kv_pb.js";
import { RegistryService } from "../../gen/plugboard/v1/registry_pb.js";
import { createDevCa, issueCertificate } from "../../src/identity/certs.js";
import { createJwtAuthenticator } from "../../src/identity/jwt.js";
import { createMtlsAuthenticator } from "../../src/identity/mtls.js";
import { createRedisStore } from "../../src/redis.js";
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

/**
 * A provider for routed calls: `Get` never answers; `Put` answers with a gRPC message every 50 ms
 * and never ends. The router forwards bytes, so the payloads need not decode.
 */
async function startEndlessProvider() {
  const server = http2.createServer();
  const streams = new Set<http2.ServerHttp2Stream>();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => (sessions.add(session), session.on("close", () => sessions.delete(session))));
  let arrived: () => void = () => undefined;
  server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    streams.add(stream);
    arrived();
    stream.on("close", () => streams.delete(stream));
    stream.on("error", () => undefined);
    stream.resume();
    if (!String(headers[":path"]).endsWith("/Put")) return;
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    const timer = setInterval(() => stream.write(Buffer.from([0, 0, 0, 0, 2, 0x0a, 0x00])), 50);
    stream.on("close", () => clearInterval(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** Resolves when the next call reaches the provider. */
    nextCall: () => new Promise<void>((resolve) => (arrived = resolve)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const stream of streams) stream.close(http2.constants.NGHTTP2_CANCEL);
        for (const session of sessions) session.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A raw gRPC call through the host: resolves with grpc-status (or the reset code) once it ends, after a first message. */
function rawGrpcCall(url: string, path: string, token: string) {
  const session = http2.connect(url);
  const request = session.request({
    ":method": "POST",
    ":path": path,
    "content-type": "application/grpc",
    te: "trailers",
    authorization: `Bearer ${token}`,
    "grpc-timeout": `${DEADLINE_MS}m`,
  });
  request.end(Buffer.from([0, 0, 0, 0, 0]));
  let markOpen!: () => void;
  const opened = new Promise<void>((resolve) => (markOpen = resolve));
  let status: string | undefined;
  const capture = (headers: http2.IncomingHttpHeaders) => {
    if (headers["grpc-status"] !== undefined) status = String(headers["grpc-status"]);
  };
  request.on("response", capture);
  request.on("trailers", capture);
  request.on("data", () => markOpen());
  request.on("error", () => undefined);
  const ended = new Promise<string>((resolve) => {
    request.on("close", () => {
      markOpen();
      session.close();
      resolve(status ?? `reset ${request.rstCode}`);
    });
  });
  return { opened, ended };
}

describe("routed calls through the host", () => {
  async function setup(options: Partial<PluginHostOptions> = {}) {
    const provider = await startEndlessProvider();
    const t = await host(options);
    cleanups.push(() => provider.close());
    const kv = await t.handshake({ pluginName: "kv", baseUrl: provider.url, provides: [{ type: KVService.typeName, version: "1.0.0" }] });
    await t.clients("connect").registry.register({ serviceType: KVService.typeName }, bearer(kv.token));
    const consumer = await t.handshake({ pluginName: "consumer", requires: [{ type: KVService.typeName, versionRange: "^1.0.0" }] });
    return { t, consumer, provider };
  }

  it.each(["connect", "grpc"] as const)("a pending routed call over %s ends Unauthenticated when the caller is revoked", async (protocol) => {
    const { t, consumer, provider } = await setup();
    const reached = provider.nextCall();
    const call = createClient(KVService, t.transport(protocol)).get({ key: "k" }, { ...bearer(consumer.token), timeoutMs: DEADLINE_MS });
    const code = call.then(
      () => "ok" as const,
      (e: unknown) => ConnectError.from(e).code,
    );
    await reached; // in flight at the provider
    await t.clients("connect").handshake.revoke({}, bearer(consumer.token));
    expect(await code).toBe(Code.Unauthenticated);
  });

  it("a routed gRPC stream ends Unauthenticated when the caller's token expires unrefreshed", async () => {
    const { t, consumer } = await setup({ runtimeTokenTtlMs: 2_000 });
    const call = rawGrpcCall(t.url, `/${KVService.typeName}/Put`, consumer.token);
    await call.opened;
    expect(await call.ended).toBe(String(Code.Unauthenticated));
  });

  it("a routed gRPC stream that is delivering messages ends Unauthenticated when the caller is revoked", async () => {
    const { t, consumer } = await setup();
    const call = rawGrpcCall(t.url, `/${KVService.typeName}/Put`, consumer.token);
    await call.opened;
    await t.clients("connect").handshake.revoke({}, bearer(consumer.token));
    expect(await call.ended).toBe(String(Code.Unauthenticated));
  });
});

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
