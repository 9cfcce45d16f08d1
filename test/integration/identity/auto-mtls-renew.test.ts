import { X509Certificate } from "node:crypto";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HandshakeService } from "../../../gen/plugboard/v1/handshake_pb.js";
import { LifecycleService } from "../../../gen/plugboard/v1/lifecycle_pb.js";
import { createCertificateRequest } from "../../../src/identity/certs.js";
import { loadX509, type X509 } from "../../../src/identity/x509.js";
import { COOKIE, handshakeRequest, startTestHost, type TestHost } from "../../helpers/host.js";
import { bearer, createTransports } from "../../helpers/transports.js";

/** RenewCertificate, called by hand: what it signs and what it refuses. */
describe("AutoMTLS RenewCertificate", () => {
  let t: TestHost;
  const opened: Array<ReturnType<typeof createTransports>> = [];
  let x509: X509;
  beforeAll(async () => {
    x509 = await loadX509();
    t = await startTestHost({ magicCookie: COOKIE, autoTls: { trustDomain: "renew.test" } }, { tls: "auto" });
  });
  afterEach(() => opened.splice(0).forEach((o) => o.close()));
  afterAll(async () => t?.close());

  /** A client presenting an AutoMTLS certificate for `certName`, handshaking as `pluginName`. */
  async function admitted(certName: string, pluginName = certName) {
    const creds = (await t.host.issuePluginCredentials(certName))!;
    const transports = createTransports(t.url, { ca: creds.caPem, cert: creds.certPem, key: creds.keyPem });
    opened.push(transports);
    const transport = transports.make("connect");
    const hs = await createClient(HandshakeService, transport).handshake(
      handshakeRequest({ pluginName, launchSecret: t.host.issueLaunchSecret(pluginName) }),
    );
    return { lifecycle: createClient(LifecycleService, transport), token: hs.runtimeToken };
  }

  const refusal = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => ConnectError.from(e));

  it("signs the request's own key for the caller's SPIFFE ID, whatever names the request asks for", async () => {
    const { lifecycle, token } = await admitted("kv");
    const keys = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      keys,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      name: "CN=admin",
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: "spiffe://renew.test/plugin/admin" }])],
    });
    const res = await lifecycle.renewCertificate({ csrPem: csr.toString("pem") }, bearer(token));
    const cert = new X509Certificate(res.certificatePem);
    expect(cert.subjectAltName).toContain("URI:spiffe://renew.test/plugin/kv");
    expect(cert.subjectAltName).not.toContain("admin");
    expect(cert.subject).toBe("CN=kv");
    expect(cert.verify(new X509Certificate(t.host.autoTls()!.caPem).publicKey)).toBe(true);
    const spki = Buffer.from(await crypto.subtle.exportKey("spki", keys.publicKey));
    expect(cert.publicKey.export({ type: "spki", format: "der" }).equals(spki)).toBe(true);
  });

  it("refuses a request whose signature does not verify, or that is no request at all", async () => {
    const { lifecycle, token } = await admitted("kv");
    const { csrPem } = await createCertificateRequest();
    const der = Buffer.from(x509.PemConverter.decodeFirst(csrPem));
    der[der.length - 5]! ^= 0xff; // inside the signature
    const tampered = x509.PemConverter.encode(der, "CERTIFICATE REQUEST");
    const bad = await refusal(lifecycle.renewCertificate({ csrPem: tampered }, bearer(token)));
    expect(bad?.code).toBe(Code.InvalidArgument);
    expect(bad?.rawMessage).toMatch(/^csr_pem: /);
    const garbage = await refusal(lifecycle.renewCertificate({ csrPem: "hello" }, bearer(token)));
    expect(garbage?.code).toBe(Code.InvalidArgument);
    const huge = await refusal(lifecycle.renewCertificate({ csrPem: "x".repeat(9_000) }, bearer(token)));
    expect(huge?.rawMessage).toMatch(/larger than 8192 bytes/);
  });

  it("refuses a runtime whose certificate names another plugin than the one it handshakes as (at the handshake, issue 12)", async () => {
    // The certificate proves "kv"; claiming "billing" is refused before any runtime exists to renew for.
    const err = await refusal(admitted("kv", "billing"));
    expect(err?.code).toBe(Code.PermissionDenied);
    expect(err?.rawMessage).toMatch(/proves plugin name "kv"; plugin_name "billing" is refused/);
  });

  it("refuses a caller that is not a runtime", async () => {
    const creds = (await t.host.issuePluginCredentials("kv"))!;
    const transports = createTransports(t.url, { ca: creds.caPem, cert: creds.certPem, key: creds.keyPem });
    opened.push(transports);
    const { csrPem } = await createCertificateRequest();
    const err = await refusal(createClient(LifecycleService, transports.make("connect")).renewCertificate({ csrPem }));
    expect(err?.code).toBe(Code.PermissionDenied);
  });

  it("is refused by a host without AutoMTLS", async () => {
    const plain = await startTestHost();
    try {
      const { token } = await plain.handshake();
      const { csrPem } = await createCertificateRequest();
      const err = await refusal(plain.clients("connect").lifecycle.renewCertificate({ csrPem }, bearer(token)));
      expect(err?.code).toBe(Code.FailedPrecondition);
    } finally {
      await plain.close();
    }
  });
});
