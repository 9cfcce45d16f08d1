import http2 from "node:http2";
import { X509Certificate } from "node:crypto";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_COOKIE } from "../../../examples/cookie.js";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import type { AuditEvent } from "../../../src/audit/audit.js";
import { createPluginHost, type PluginHost } from "../../../src/host/create.js";
import type { RunningServer } from "../../../src/host/listen.js";
import { createDevCa, issueCertificate } from "../../../src/identity/certs.js";
import { createLauncher, type Launcher } from "../../../src/launcher/index.js";
import { waitFor } from "../launcher/harness.js";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const KV_PROVIDER = fileURLToPath(new URL("../../../examples/kv-provider/main.ts", import.meta.url));
const CONSUMER = fileURLToPath(new URL("../../fixtures/auto-mtls/renewing-consumer.ts", import.meta.url));
const KV = "kv.v1.KVService";
/**
 * Long enough for a plugin to start (cold tsx transform) on a loaded CI machine before its launch
 * certificate expires, short enough to see that certificate expire within the test.
 */
const CERT_TTL_MS = 20_000;

type LogRecord = Record<string, unknown> & { msg?: string; plugin?: string; stream?: string };

/** Opens a TLS HTTP/2 session and makes one request; resolves with the response status or the error. */
function tryRequest(url: string, options: http2.SecureClientSessionOptions): Promise<{ status?: number; error?: string; peer?: X509Certificate }> {
  return new Promise((resolve) => {
    const session = http2.connect(url, options);
    let settled = false;
    const done = (result: { status?: number; error?: string; peer?: X509Certificate }) => {
      if (settled) return;
      settled = true;
      session.destroy();
      resolve(result);
    };
    session.once("error", (e) => done({ error: e.message }));
    session.once("close", () => done({ error: "closed" }));
    const req = session.request({ ":path": "/grpc.health.v1.Health/Check", ":method": "POST", "content-type": "application/grpc" });
    req.once("error", (e) => done({ error: e.message }));
    req.once("response", (headers) => {
      const socket = session.socket as unknown as import("node:tls").TLSSocket;
      const peer = socket.getPeerX509Certificate?.();
      done({ status: Number(headers[":status"]), ...(peer ? { peer } : {}) });
    });
    req.end();
  });
}

describe("AutoMTLS: tls \"auto\" on the host, real plugin processes", () => {
  let host: PluginHost;
  let server: RunningServer;
  let launcher: Launcher;
  const logs: LogRecord[] = [];
  const audits: AuditEvent[] = [];
  /** The certificates the launcher handed each plugin at launch. */
  const launched = new Map<string, string>();

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString("utf8").split("\n")) if (line) logs.push(JSON.parse(line) as LogRecord);
        done();
      },
    });
    host = createPluginHost({
      magicCookie: EXAMPLE_COOKIE,
      requireLaunchSecret: true,
      autoTls: { certTtlMs: CERT_TTL_MS },
      logger: pino({ level: "info" }, sink),
      audit: (e) => audits.push(e),
    });
    server = await host.listen({ tls: "auto" });
    const issue = host.issuePluginCredentials;
    host.issuePluginCredentials = async (name) => {
      const credentials = await issue(name);
      if (credentials) launched.set(name, credentials.certPem);
      return credentials;
    };
    launcher = createLauncher({ host, hostUrl: server.url });
    const common = { command: process.execPath, cwd: REPO_ROOT, startTimeoutMs: 30_000, stopGraceMs: 3_000, restart: { policy: "never" as const } };
    await launcher.start({ ...common, name: "kv-provider", args: ["--import", "tsx", KV_PROVIDER], env: { KV_PROVIDER_NAME: "kv-provider" }, provides: [KV] });
    await launcher.start({ ...common, name: "consumer", args: ["--import", "tsx", CONSUMER], readiness: { registrations: [] } });
  }, 60_000);

  afterAll(async () => {
    await launcher?.stopAll();
    await host?.close();
  });

  const stdout = (plugin: string, prefix: string) =>
    logs.find((r) => r.plugin === plugin && r.stream === "stdout" && typeof r.msg === "string" && r.msg.startsWith(prefix));
  /** Waits for a plugin's stdout line; a timeout names what the plugins logged last. */
  const waitForOutput = (plugin: string, prefix: string, timeoutMs: number) =>
    waitFor(`${plugin} to print "${prefix}"`, () => stdout(plugin, prefix), timeoutMs).catch((e: Error) => {
      const last = logs.filter((r) => r.plugin).slice(-15).map((r) => `${r.plugin}/${r.stream}: ${r.msg}`);
      throw new Error(`${e.message}; plugins last logged:\n${last.join("\n")}`);
    });

  it("serves https and binds each runtime to its plugin's SPIFFE ID", async () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:/);
    const runtimes = await host.store.listRuntimes();
    const bound = Object.fromEntries(runtimes.map((r) => [r.pluginName, r.boundSubject]));
    expect(bound).toEqual({
      "kv-provider": "spiffe://plugboard.local/plugin/kv-provider",
      consumer: "spiffe://plugboard.local/plugin/consumer",
    });
    const provider = runtimes.find((r) => r.pluginName === "kv-provider")!;
    expect(provider.baseUrl).toMatch(/^https:\/\/127\.0\.0\.1:/);
  });

  it("routes the consumer's calls to the provider; the host app's own client reaches it too", async () => {
    await waitForOutput("consumer", "tour ok", 30_000);
    const kv = host.client(KVService);
    await kv.put({ key: "from-host", value: new TextEncoder().encode("auto") });
    expect(new TextDecoder().decode((await kv.get({ key: "from-host" })).value)).toBe("auto");
  }, 40_000);

  it("refuses a plain-text client, a client without a certificate and one with another CA's certificate", async () => {
    const plain = await new Promise<string>((resolve) => {
      const session = http2.connect(server.url.replace("https:", "http:"));
      let settled = false;
      const finish = (what: string) => {
        if (settled) return;
        settled = true;
        session.destroy();
        resolve(what);
      };
      session.once("error", () => finish("refused"));
      session.once("close", () => finish("refused"));
      const req = session.request({ ":path": "/grpc.health.v1.Health/Check", ":method": "POST" });
      req.once("error", () => finish("refused"));
      req.once("response", () => finish("answered"));
      req.end();
    });
    expect(plain).toBe("refused");

    const ca = host.autoTls()!.caPem;
    expect((await tryRequest(server.url, { ca })).error).toBeDefined();

    // Same SPIFFE ID as a real plugin, but from a CA the host does not trust.
    const other = await createDevCa();
    const forged = await issueCertificate(other, { spiffeId: "spiffe://plugboard.local/plugin/consumer", usage: "client" });
    expect((await tryRequest(server.url, { ca, cert: forged.certPem, key: forged.keyPem })).error).toBeDefined();

    // A certificate from the host's own CA gets through TLS (control: the refusals above are not a TLS misconfiguration).
    const genuine = await host.autoTls()!.issuePlugin("probe");
    expect(await tryRequest(server.url, { ca, cert: genuine.certPem, key: genuine.keyPem })).toMatchObject({ status: 200 });
  });

  it("renews every plugin's certificate at half-life; calls keep working after the launch certificates expired", async () => {
    const auto = host.autoTls()!;
    const provider = (await host.store.listRuntimes()).find((r) => r.pluginName === "kv-provider")!;
    const launchCert = new X509Certificate(launched.get("kv-provider")!);

    await waitForOutput("consumer", "tour ok after expiry", 4 * CERT_TTL_MS);
    const renewed = (plugin: string) => audits.filter((a) => a.event === "certificate.renew" && a.outcome === "success" && a.actor?.pluginName === plugin);
    expect(renewed("consumer").length).toBeGreaterThan(0);
    expect(renewed("kv-provider").length).toBeGreaterThan(0);
    expect(renewed("consumer")[0]!.target).toBe("spiffe://plugboard.local/plugin/consumer");

    // The provider's server now presents a renewed certificate, to a host client certificate that renewed too.
    const now = auto.clientTls();
    const after = await tryRequest(provider.baseUrl, { ca: now.ca, cert: now.cert, key: now.key });
    expect(after.status).toBeGreaterThan(0); // any HTTP answer: the TLS handshake with the provider succeeded
    expect(after.peer!.fingerprint256).not.toBe(launchCert.fingerprint256);
    expect(Date.now()).toBeGreaterThan(new Date(launchCert.validTo).getTime());
    expect(after.peer!.verify(new X509Certificate(auto.caPem).publicKey)).toBe(true);
    expect(after.peer!.subjectAltName).toContain("URI:spiffe://plugboard.local/plugin/kv-provider");
    // Only the host may connect to a plugin's server: another plugin's certificate from the same CA is closed.
    const intruder = await auto.issuePlugin("intruder");
    expect((await tryRequest(provider.baseUrl, { ca: auto.caPem, cert: intruder.certPem, key: intruder.keyPem })).error).toBeDefined();
    // The provider stayed registered throughout (its heartbeats authenticate with the renewed certificate).
    expect((await host.store.listRegistrations(KV)).map((r) => r.runtimeId)).toEqual([provider.runtimeId]);
  }, 5 * CERT_TTL_MS);
});
