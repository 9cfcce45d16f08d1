/**
 * The plugin's own server (startPluginServer) on loopback: the caller check every call passes first,
 * the limits it applies, draining, and TLS (client certificates, the host's exact SAN, renewal).
 */
import * as http2 from "node:http2";
import { X509Certificate } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createContextValues, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { trace } from "@opentelemetry/api";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { GetResponseSchema, KVService } from "../../../gen/kv/v1/kv_pb.js";
import { createDevCa, issueCertificate, type CertificateAuthority } from "../../../src/identity/certs.js";
import { signCallerHeader } from "../../../src/protocol/caller-header.js";
import { HEADER_CALLER } from "../../../src/protocol/constants.js";
import { callerKey, createCallerInterceptor } from "../../../src/sdk/caller.js";
import { provide } from "../../../src/sdk/index.js";
import { startPluginServer, type PluginServerOptions } from "../../../src/sdk/server.js";
import { createTransports, type ProtocolName } from "../../helpers/transports.js";
import { rawPostStatus } from "../../helpers/raw-post.js";

const KEY = Buffer.alloc(32, 0x5a);
const GET = "/kv.v1.KVService/Get";
const signed = (path = GET, key = KEY, subject = "runtime:rt_caller", now = Date.now()) =>
  signCallerHeader({ subject, method: "token", path }, key, now);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(extra: Partial<PluginServerOptions> & { impl?: Record<string, unknown> } = {}) {
  const { impl, ...rest } = extra;
  const server = await startPluginServer({
    services: [provide(KVService, impl ?? { get: () => create(GetResponseSchema, { found: true }) })],
    signingKey: () => KEY,
    port: 0,
    hostname: "127.0.0.1",
    maxMessageBytes: 4 << 20,
    ...rest,
  });
  cleanups.push(() => server.close());
  return server;
}

function kvAt(url: string, tls?: { ca?: string; cert?: string; key?: string }, protocol: ProtocolName = "connect") {
  const transports = createTransports(url, tls);
  cleanups.push(async () => {
    await new Promise((r) => setImmediate(r));
    transports.close();
  });
  return createClient(KVService, transports.make(protocol));
}

/** The RST_STREAM code a raw HTTP/2 POST to Get ends with (0: none). */
async function rstCodeOfCall(url: string): Promise<number> {
  const session = http2.connect(url);
  try {
    const req = session.request({ ":method": "POST", ":path": GET, "content-type": "application/proto", [HEADER_CALLER]: signed() });
    req.on("error", () => undefined);
    req.resume();
    req.end();
    await new Promise((resolve) => req.once("close", resolve));
    return req.rstCode ?? 0;
  } finally {
    await new Promise((r) => setImmediate(r));
    session.destroy();
  }
}

/** The HTTP status a raw unsigned Connect JSON POST to Get is answered with. */
const statusOfRawCall = (url: string, headers: http2.OutgoingHttpHeaders) =>
  rawPostStatus(url, { ":path": GET, "content-type": "application/json", ...headers });

const outcome = (p: Promise<unknown>) => p.then(() => "ok" as const, (e: unknown) => ConnectError.from(e).code);

describe("plugin server: the caller check", () => {
  it("hands the impl the verified caller; refuses a header signed for another procedure or with another key", async () => {
    const subjects: (string | undefined)[] = [];
    const server = await serve({
      impl: {
        get: (_req: unknown, ctx: HandlerContext) => {
          subjects.push(ctx.values.get(callerKey)?.subject);
          return create(GetResponseSchema, { found: true });
        },
      },
    });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const kv = kvAt(server.url);
    await kv.get({ key: "k" }, { headers: { [HEADER_CALLER]: signed() } });
    expect(subjects).toEqual(["runtime:rt_caller"]);

    const wrongPath = await kv.get({ key: "k" }, { headers: { [HEADER_CALLER]: signed("/kv.v1.KVService/Put") } }).catch((e: unknown) => ConnectError.from(e));
    expect(wrongPath).toMatchObject({
      code: Code.Unauthenticated,
      rawMessage: "calls must come through the plugboard host (missing or invalid caller header)",
    });
    expect(await outcome(kv.get({ key: "k" }, { headers: { [HEADER_CALLER]: signed(GET, Buffer.alloc(32, 1)) } }))).toBe(Code.Unauthenticated);
    expect(subjects).toHaveLength(1);
  });

  it("runs the plugin's own server interceptors after the check, with the caller known", async () => {
    const seen: (string | undefined)[] = [];
    const recorder: Interceptor = (next) => async (req) => {
      seen.push(req.contextValues.get(callerKey)?.subject);
      return next(req);
    };
    const server = await serve({ interceptors: [recorder] });
    const kv = kvAt(server.url);
    expect(await outcome(kv.get({ key: "k" }))).toBe(Code.Unauthenticated);
    expect(seen).toEqual([]);
    expect(await outcome(kv.get({ key: "k" }, { headers: { [HEADER_CALLER]: signed() } }))).toBe("ok");
    expect(seen).toEqual(["runtime:rt_caller"]);
  });

  it("createCallerInterceptor: a maximum age, when given, refuses older headers", async () => {
    const ok = { message: create(GetResponseSchema, {}) };
    const call = (interceptor: Interceptor, header: string) => {
      const req = {
        service: KVService,
        method: KVService.method.get,
        header: new Headers({ [HEADER_CALLER]: header }),
        contextValues: createContextValues(),
      };
      return outcome((interceptor(async () => ok as never) as (r: unknown) => Promise<unknown>)(req));
    };
    const old = signed(GET, KEY, "runtime:rt_caller", Date.now() - 5_000);
    expect(await call(createCallerInterceptor(() => KEY), old)).toBe("ok");
    expect(await call(createCallerInterceptor(() => KEY, 1_000), old)).toBe(Code.Unauthenticated);
    expect(await call(createCallerInterceptor(() => KEY, 10_000), old)).toBe("ok");
  });
});

describe("plugin server: listening", () => {
  it("fails to start on a port already taken", async () => {
    const first = await serve();
    const port = Number(new URL(first.url).port);
    await expect(
      startPluginServer({ services: [], signingKey: () => KEY, port, hostname: "127.0.0.1", maxMessageBytes: 1024 }),
    ).rejects.toMatchObject({ code: "EADDRINUSE" });
  });

  it("traces refused calls too (no caller) and served ones with their caller", async () => {
    const exporter = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    cleanups.push(() => trace.disable());
    const server = await serve();
    const kv = kvAt(server.url);
    expect(await outcome(kv.get({ key: "k" }))).toBe(Code.Unauthenticated);
    expect(await outcome(kv.get({ key: "k" }, { headers: { [HEADER_CALLER]: signed() } }))).toBe("ok");
    const spans = exporter.getFinishedSpans().filter((sp) => sp.name === "kv.v1.KVService/Get");
    expect(spans.map((sp) => [sp.attributes["plugboard.code"], sp.attributes["plugboard.caller"]])).toEqual([
      ["unauthenticated", undefined],
      ["ok", "runtime:rt_caller"],
    ]);
  });
});

describe("plugin server: limits", () => {
  it("refuses a request, and fails a response, larger than maxMessageBytes", async () => {
    const server = await serve({
      maxMessageBytes: 1024,
      impl: { get: (req: { key: string }) => create(GetResponseSchema, { found: true, value: new Uint8Array(req.key === "big" ? 2048 : 8) }) },
    });
    const kv = kvAt(server.url, undefined, "grpc");
    const headers = { [HEADER_CALLER]: signed() };
    expect(await outcome(kv.get({ key: "small" }, { headers }))).toBe("ok");
    expect(await outcome(kv.get({ key: "x".repeat(2048) }, { headers }))).toBe(Code.ResourceExhausted);
    expect(await outcome(kv.get({ key: "big" }, { headers }))).not.toBe("ok");
  });

  it("announces at most 256 concurrent streams and a 16 KiB header list", async () => {
    const server = await serve();
    const session = http2.connect(server.url);
    cleanups.push(() => void session.destroy());
    const settings = await new Promise<http2.Settings>((resolve) => session.once("remoteSettings", resolve));
    expect(settings.maxConcurrentStreams).toBe(256);
    expect(settings.maxHeaderListSize).toBe(16 * 1024);
  });

  it("serves an IPv6 loopback address with a bracketed URL", async () => {
    const server = await serve({ hostname: "::1" });
    expect(server.url).toMatch(/^http:\/\/\[::1\]:\d+$/);
    expect(await statusOfRawCall(server.url, { ":authority": `[::1]:${new URL(server.url).port}` })).toBe(401);
  });

  it("answers a request whose :authority makes no URL with 400, and keeps serving (it used to crash the process)", async () => {
    const server = await serve();
    for (const authority of ["::1:5", "h.example:99999", "[::1"])
      expect([authority, await statusOfRawCall(server.url, { ":authority": authority })]).toEqual([authority, 400]);
    expect(await outcome(kvAt(server.url).get({ key: "k" }, { headers: { [HEADER_CALLER]: signed() } }))).toBe("ok");
  });
});

describe("plugin server: drain", () => {
  /** A server whose Get calls wait for release(); `started` counts the calls that reached the impl. */
  async function heldServer() {
    const releases: (() => void)[] = [];
    let started = 0;
    const server = await serve({
      impl: {
        get: async () => {
          started++;
          await new Promise<void>((r) => releases.push(r));
          return create(GetResponseSchema, { found: true });
        },
      },
    });
    return { server, releases, started: () => started };
  }

  it("is done at once when idle", async () => {
    const server = await serve();
    expect(await server.drain(10_000)).toBe(true);
  });

  it("waits for every call in flight, refusing new ones meanwhile", async () => {
    const { server, releases, started } = await heldServer();
    const kv = kvAt(server.url);
    const headers = { [HEADER_CALLER]: signed() };
    const first = outcome(kv.get({ key: "a" }, { headers }));
    const second = outcome(kv.get({ key: "b" }, { headers }));
    await expect.poll(started, { timeout: 10_000 }).toBe(2);
    let drained: boolean | undefined;
    const draining = server.drain(60_000).then((d) => (drained = d));
    // Refused unprocessed at the HTTP/2 level (the host's router retries such a call elsewhere).
    expect(await rstCodeOfCall(server.url)).toBe(http2.constants.NGHTTP2_REFUSED_STREAM);
    expect(started()).toBe(2);
    releases[0]!();
    expect(await first).toBe("ok");
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(drained).toBeUndefined();
    releases[1]!();
    expect(await second).toBe("ok");
    await draining;
    expect(drained).toBe(true);
  });

  it("gives up after its timeout, answering false", async () => {
    const { server, releases, started } = await heldServer();
    const kv = kvAt(server.url);
    const call = outcome(kv.get({ key: "a" }, { headers: { [HEADER_CALLER]: signed() } }));
    await expect.poll(started, { timeout: 10_000 }).toBe(1);
    expect(await server.drain(20)).toBe(false);
    releases[0]!();
    expect(await call).toBe("ok");
  });

  it("close ends connections whose calls do not finish", async () => {
    const { server, started } = await heldServer();
    const kv = kvAt(server.url);
    const call = outcome(kv.get({ key: "a" }, { headers: { [HEADER_CALLER]: signed() } }));
    await expect.poll(started, { timeout: 10_000 }).toBe(1);
    await server.close(); // resolves once the held call's connection is destroyed
    expect(await call).not.toBe("ok");
  });

  it("close ends open connections and refuses calls", async () => {
    const server = await startPluginServer({
      services: [provide(KVService, { get: () => create(GetResponseSchema, { found: true }) })],
      signingKey: () => KEY,
      port: 0,
      hostname: "127.0.0.1",
      maxMessageBytes: 4 << 20,
    });
    const session = http2.connect(server.url);
    cleanups.push(() => void session.destroy());
    await new Promise((resolve) => session.once("remoteSettings", resolve));
    const closedSession = new Promise((resolve) => session.once("close", resolve));
    await server.close();
    await closedSession;
  });
});

describe("plugin server: TLS", () => {
  let ca: CertificateAuthority;
  let serverCert: { certPem: string; keyPem: string };
  let hostClient: { certPem: string; keyPem: string };
  let otherPlugin: { certPem: string; keyPem: string };
  const HOST_ID = "spiffe://td.test/host";
  beforeAll(async () => {
    ca = await createDevCa();
    serverCert = await issueCertificate(ca, { usage: "server", commonName: "plugin", ipAddresses: ["127.0.0.1"] });
    hostClient = await issueCertificate(ca, { usage: "client", spiffeId: HOST_ID });
    otherPlugin = await issueCertificate(ca, { usage: "client", spiffeId: "spiffe://td.test/plugin/other" });
  });

  const client = (c: { certPem: string; keyPem: string } | undefined) => ({ ca: ca.certPem, ...(c ? { cert: c.certPem, key: c.keyPem } : {}) });

  it("with a CA, needs a client certificate from it; with clientSubjectAltName, exactly the host's", async () => {
    const server = await serve({
      tls: { cert: serverCert.certPem, key: serverCert.keyPem, ca: ca.certPem },
      clientSubjectAltName: `URI:${HOST_ID}`,
    });
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const headers = { [HEADER_CALLER]: signed() };
    expect(await outcome(kvAt(server.url, client(hostClient)).get({ key: "k" }, { headers }))).toBe("ok");
    expect(await outcome(kvAt(server.url, client(otherPlugin)).get({ key: "k" }, { headers }))).not.toBe("ok");
    expect(await outcome(kvAt(server.url, client(undefined)).get({ key: "k" }, { headers }))).not.toBe("ok");
  });

  it("with a CA but no clientSubjectAltName, any certificate from the CA will do", async () => {
    const server = await serve({ tls: { cert: serverCert.certPem, key: serverCert.keyPem, ca: ca.certPem } });
    expect(await outcome(kvAt(server.url, client(otherPlugin)).get({ key: "k" }, { headers: { [HEADER_CALLER]: signed() } }))).toBe("ok");
  });

  it("clientSubjectAltName without a CA: no client certificate is asked for, so no connection matches", async () => {
    const server = await serve({ tls: { cert: serverCert.certPem, key: serverCert.keyPem }, clientSubjectAltName: `URI:${HOST_ID}` });
    expect(await outcome(kvAt(server.url, client(hostClient)).get({ key: "k" }, { headers: { [HEADER_CALLER]: signed() } }))).not.toBe("ok");
  });

  it("without a CA, any client may connect (the caller header still decides)", async () => {
    const server = await serve({ tls: { cert: serverCert.certPem, key: serverCert.keyPem } });
    const kv = kvAt(server.url, client(undefined));
    expect(await outcome(kv.get({ key: "k" }, { headers: { [HEADER_CALLER]: signed() } }))).toBe("ok");
    expect(await outcome(kv.get({ key: "k" }))).toBe(Code.Unauthenticated);
  });

  it("updateTls: new connections get the new certificate; a plain server refuses the call", async () => {
    const plain = await serve();
    expect(() => plain.updateTls({ cert: serverCert.certPem, key: serverCert.keyPem })).toThrow(/does not serve TLS/);

    const server = await serve({ tls: { cert: serverCert.certPem, key: serverCert.keyPem, ca: ca.certPem } });
    const renewed = await issueCertificate(ca, { usage: "server", commonName: "plugin-renewed", ipAddresses: ["127.0.0.1"] });
    server.updateTls({ cert: renewed.certPem, key: renewed.keyPem, ca: ca.certPem });
    const peer = await new Promise<X509Certificate | undefined>((resolve, reject) => {
      const session = http2.connect(server.url, { ca: ca.certPem, cert: hostClient.certPem, key: hostClient.keyPem });
      session.once("error", reject);
      session.once("connect", () => {
        const cert = (session.socket as import("node:tls").TLSSocket).getPeerX509Certificate();
        session.destroy();
        resolve(cert);
      });
    });
    expect(peer?.subject).toContain("CN=plugin-renewed");
    // The renewed context still trusts the CA for client certificates.
    expect(await outcome(kvAt(server.url, client(hostClient)).get({ key: "k" }, { headers: { [HEADER_CALLER]: signed() } }))).toBe("ok");
    // Still mTLS after the swap: a client without a certificate is refused.
    expect(await outcome(kvAt(server.url, client(undefined)).get({ key: "k" }, { headers: { [HEADER_CALLER]: signed() } }))).not.toBe("ok");
  });
});
