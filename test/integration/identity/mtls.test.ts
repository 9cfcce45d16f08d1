import { X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { createDevCa, issueCertificate, type CertificateAuthority } from "../../../src/identity/certs.js";
import { createMtlsAuthenticator, type MtlsAuthenticatorOptions } from "../../../src/identity/mtls.js";
import { requestWithClientCert, startMtlsServer, type MtlsTestServer } from "./tls-harness.js";

const DAY = 24 * 60 * 60 * 1000;

describe("mTLS authenticator over a real HTTP/2 TLS server", () => {
  let ca: CertificateAuthority;
  let otherCa: CertificateAuthority;
  let serverCert: { certPem: string; keyPem: string };
  const servers: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    ca = await createDevCa({ commonName: "Test CA" });
    otherCa = await createDevCa({ commonName: "Other CA" });
    serverCert = await issueCertificate(ca, {
      commonName: "host",
      dnsNames: ["localhost"],
      ipAddresses: ["127.0.0.1"],
      usage: "server",
    });
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  let last: MtlsTestServer;
  async function serve(opts: MtlsAuthenticatorOptions): Promise<string> {
    const server = await startMtlsServer({
      ca: ca.certPem,
      cert: serverCert.certPem,
      key: serverCert.keyPem,
      authenticate: createMtlsAuthenticator(opts),
    });
    servers.push(server);
    last = server;
    return server.url;
  }

  /**
   * The server's TLS layer refused the peer and the request never reached the
   * authenticator. (Node reports such refusals as a bare hang-up, without the reason.)
   */
  async function expectTlsRefusal(): Promise<void> {
    await new Promise((r) => setTimeout(r, 20));
    expect(last.authCalls()).toBe(0);
    expect(last.tlsErrors.length).toBeGreaterThan(0);
  }

  const spiffeOnly = { trustDomains: ["example.org"], roles: (s: string) => (s.endsWith("/kv") ? ["provider"] : []) };

  it("accepts a valid SPIFFE certificate and names the SPIFFE ID", async () => {
    const url = await serve(spiffeOnly);
    const client = await issueCertificate(ca, { commonName: "kv", spiffeId: "spiffe://example.org/plugin/kv", usage: "client" });
    const res = await requestWithClientCert(url, { ca: ca.certPem, cert: client.certPem, key: client.keyPem });
    expect(res).toEqual({ status: 200, body: { subject: "spiffe://example.org/plugin/kv", roles: ["provider"] } });
  });

  it("refuses an expired certificate at the TLS layer", async () => {
    const url = await serve(spiffeOnly);
    const expired = await issueCertificate(ca, {
      spiffeId: "spiffe://example.org/plugin/old",
      usage: "client",
      notBefore: new Date(Date.now() - 10 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    // Same CA, valid signature: only the dates are wrong.
    const parsed = new X509Certificate(expired.certPem);
    expect(parsed.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(Date.parse(parsed.validTo)).toBeLessThan(Date.now());
    await expect(requestWithClientCert(url, { ca: ca.certPem, cert: expired.certPem, key: expired.keyPem })).rejects.toThrow();
    await expectTlsRefusal();
  });

  it("refuses a certificate from another CA at the TLS layer", async () => {
    const url = await serve(spiffeOnly);
    const foreign = await issueCertificate(otherCa, { spiffeId: "spiffe://example.org/plugin/kv", usage: "client" });
    await expect(requestWithClientCert(url, { ca: ca.certPem, cert: foreign.certPem, key: foreign.keyPem })).rejects.toThrow();
    await expectTlsRefusal();
  });

  it("refuses a connection without a client certificate at the TLS layer", async () => {
    const url = await serve(spiffeOnly);
    await expect(requestWithClientCert(url, { ca: ca.certPem })).rejects.toThrow();
    await expectTlsRefusal();
  });

  it("answers Unauthenticated for a certificate with no SAN when no CN mapping is configured", async () => {
    const url = await serve(spiffeOnly);
    const cnOnly = await issueCertificate(ca, { commonName: "legacy-client", usage: "client" });
    const res = await requestWithClientCert(url, { ca: ca.certPem, cert: cnOnly.certPem, key: cnOnly.keyPem });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe(Code.Unauthenticated);
    expect(res.body.message).toMatch(/no SPIFFE ID/);
  });

  it("answers Unauthenticated for two SPIFFE URI SANs", async () => {
    const url = await serve(spiffeOnly);
    const two = await issueCertificate(ca, {
      spiffeId: "spiffe://example.org/plugin/a",
      uris: ["spiffe://example.org/plugin/b"],
      usage: "client",
    });
    const res = await requestWithClientCert(url, { ca: ca.certPem, cert: two.certPem, key: two.keyPem });
    expect(res.body.code).toBe(Code.Unauthenticated);
    expect(res.body.message).toMatch(/more than one SPIFFE ID/);
  });

  it("answers Unauthenticated for a trust domain outside the allow-list", async () => {
    const url = await serve(spiffeOnly);
    const evil = await issueCertificate(ca, { spiffeId: "spiffe://evil.example/plugin/kv", usage: "client" });
    const res = await requestWithClientCert(url, { ca: ca.certPem, cert: evil.certPem, key: evil.keyPem });
    expect(res.body.code).toBe(Code.Unauthenticated);
    expect(res.body.message).toMatch(/trust domain is not accepted/);
  });

  it("answers Unauthenticated for a malformed SPIFFE ID instead of falling back to the CN", async () => {
    const url = await serve({ ...spiffeOnly, allowCnFallback: true });
    const bad = await issueCertificate(ca, { commonName: "ok", uris: ["spiffe://Example.org/x/../y"], usage: "client" });
    const res = await requestWithClientCert(url, { ca: ca.certPem, cert: bad.certPem, key: bad.keyPem });
    expect(res.body.code).toBe(Code.Unauthenticated);
    expect(res.body.message).toMatch(/SPIFFE ID is invalid/);
  });

  it("accepts a CN-only certificate through a CN mapping and refuses unmapped CNs", async () => {
    const url = await serve({
      ...spiffeOnly,
      cnMapping: (cn) => (cn === "legacy-client" ? "legacy" : cn === "ops" ? true : undefined),
    });
    const mapped = await issueCertificate(ca, { commonName: "legacy-client", usage: "client" });
    const asIs = await issueCertificate(ca, { commonName: "ops", usage: "client" });
    const unmapped = await issueCertificate(ca, { commonName: "stranger", usage: "client" });
    const tls = (c: { certPem: string; keyPem: string }) => ({ ca: ca.certPem, cert: c.certPem, key: c.keyPem });
    expect((await requestWithClientCert(url, tls(mapped))).body.subject).toBe("cn:legacy");
    expect((await requestWithClientCert(url, tls(asIs))).body.subject).toBe("cn:ops");
    const refused = await requestWithClientCert(url, tls(unmapped));
    expect(refused.body.code).toBe(Code.Unauthenticated);
    expect(refused.body.message).toMatch(/not mapped/);
  });

  it("uses the DNS SAN when allowCnFallback is on and there is no CN", async () => {
    const url = await serve({ allowCnFallback: true });
    const dnsOnly = await issueCertificate(ca, { dnsNames: ["worker.internal"], usage: "client" });
    const res = await requestWithClientCert(url, { ca: ca.certPem, cert: dnsOnly.certPem, key: dnsOnly.keyPem });
    expect(res.body.subject).toBe("dns:worker.internal");
  });
});

