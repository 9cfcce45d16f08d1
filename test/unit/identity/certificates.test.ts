/**
 * Certificates end to end in one process: what the dev CA and leaves carry (extensions, their
 * criticality, validity arithmetic), certificate requests, how names are read from the DER, what
 * the mTLS authenticator makes of a peer certificate (each refusal, the validity window to the
 * millisecond, name fallbacks) and AutoMTLS's CA. Certificates are made in the test.
 * Written against the survivors of `npm run mutate -- identity` (docs/testing.md).
 */
import { X509Certificate, createPrivateKey, webcrypto } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import type * as X509Types from "@peculiar/x509";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createAutoTls, resolveAutoTlsOptions, type AutoTls } from "../../../src/identity/auto-tls.js";
import { readCertificateNames } from "../../../src/identity/certificate-names.js";
import {
  MAX_CSR_PEM_BYTES,
  createCertificateRequest,
  createDevCa,
  issueCertificate,
  loadCertificateAuthority,
  signCertificateRequest,
  type CertificateAuthority,
} from "../../../src/identity/certs.js";
import { createMtlsAuthenticator, type MtlsAuthenticatorOptions } from "../../../src/identity/mtls.js";
import { loadX509, type X509 } from "../../../src/identity/x509.js";

const subtle = webcrypto.subtle as unknown as SubtleCrypto;
const cryptoProvider = webcrypto as unknown as Crypto;
const ECDSA = { name: "ECDSA", hash: "SHA-256" };
const DAY_MS = 86_400_000;
const headers = new Headers();

let x509: X509;
let ca: CertificateAuthority;
beforeAll(async () => {
  x509 = await loadX509();
  ca = await createDevCa({ commonName: "Unit CA" });
});

async function refusal(p: Promise<unknown>): Promise<ConnectError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ConnectError);
  expect((err as ConnectError).code).toBe(Code.Unauthenticated);
  return err as ConnectError;
}

/** A leaf signed by `ca` with exactly the subject and extensions given (what issueCertificate would not write). */
async function craft(opts: { subject: string; extensions?: X509Types.Extension[]; notBefore?: Date; notAfter?: Date }): Promise<X509Certificate> {
  const keys = (await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create(
    {
      subject: opts.subject,
      issuer: ca.certificate.subject.split("\n").join(", "),
      publicKey: keys.publicKey,
      signingKey: ca.privateKey as CryptoKey,
      notBefore: opts.notBefore ?? new Date(Date.now() - 60_000),
      notAfter: opts.notAfter ?? new Date(Date.now() + DAY_MS),
      signingAlgorithm: ECDSA,
      extensions: opts.extensions ?? [],
    },
    cryptoProvider,
  );
  return new X509Certificate(cert.toString("pem"));
}

/** Waits (real time, generous bound) until `ready` holds. */
async function until(ready: () => boolean, timeoutMs = 20_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !ready(); ) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

const leaf = async (opts: Parameters<typeof issueCertificate>[1]) => new X509Certificate((await issueCertificate(ca, opts)).certPem);
const peculiar = (pem: string) => new x509.X509Certificate(pem);

describe("dev CA", () => {
  it("is a CA (critical basic constraints, path length 0) signing certificates and CRLs, named by default", async () => {
    const dev = await createDevCa();
    const cert = peculiar(dev.certPem);
    expect(dev.certificate.subject).toBe("CN=Plugboard Dev CA");
    const basic = cert.getExtension(x509.BasicConstraintsExtension)!;
    expect([basic.ca, basic.pathLength, basic.critical]).toEqual([true, 0, true]);
    const usage = cert.getExtension(x509.KeyUsagesExtension)!;
    expect(usage.usages).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature);
    expect(usage.critical).toBe(true);
    expect(cert.getExtension(x509.SubjectKeyIdentifierExtension)?.critical).toBe(false);
    expect(cert.extensions).toHaveLength(3);
  });

  it("is back-dated five minutes and valid for validityDays (365 by default)", async () => {
    const before = Date.now();
    const dev = await createDevCa({ validityDays: 10 });
    const after = Date.now();
    const from = new Date(dev.certificate.validFrom).getTime();
    const to = new Date(dev.certificate.validTo).getTime();
    // Certificate times have whole seconds.
    expect(from).toBeGreaterThanOrEqual(before - 300_000 - 1_000);
    expect(from).toBeLessThanOrEqual(after - 300_000);
    expect(to).toBeGreaterThanOrEqual(before + 10 * DAY_MS - 1_000);
    expect(to).toBeLessThanOrEqual(after + 10 * DAY_MS);
    const year = new Date((await createDevCa()).certificate.validTo).getTime();
    expect(year).toBeGreaterThan(before + 364 * DAY_MS);
  });

  it("has no CN when named with an empty string", async () => {
    expect(peculiar((await createDevCa({ commonName: "" })).certPem).subject).toBe("");
  });

  it("bounds validityDays to (0, 3650]", async () => {
    for (const bad of [0, -1, 3651, Number.NaN]) {
      await expect(createDevCa({ validityDays: bad })).rejects.toThrow(new RangeError("validityDays must be a number of days between 0 and 3650"));
    }
    expect((await createDevCa({ validityDays: 3650 })).certificate.ca).toBe(true);
  });

  it("loads a CA's key as a non-extractable signing key", async () => {
    const loaded = await loadCertificateAuthority(ca.certPem, ca.keyPem);
    expect(loaded.privateKey.extractable).toBe(false);
    expect(loaded.privateKey.usages).toEqual(["sign"]);
    expect(loaded.certificate.subject).toBe("CN=Unit CA");
  });
});

describe("leaf certificates", () => {
  it("carry critical non-CA constraints and key usage, the requested extended usages and key identifiers", async () => {
    const cert = peculiar((await issueCertificate(ca, { commonName: "svc", dnsNames: ["svc.local"], usage: "both" })).certPem);
    const basic = cert.getExtension(x509.BasicConstraintsExtension)!;
    expect([basic.ca, basic.critical]).toEqual([false, true]);
    const usage = cert.getExtension(x509.KeyUsagesExtension)!;
    expect([usage.usages, usage.critical]).toEqual([x509.KeyUsageFlags.digitalSignature, true]);
    const eku = cert.getExtension(x509.ExtendedKeyUsageExtension)!;
    expect([eku.usages, eku.critical]).toEqual([[x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false]);
    expect(cert.getExtension(x509.SubjectKeyIdentifierExtension)?.critical).toBe(false);
    expect(cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.critical).toBe(false);
    // The subject has a name, so the SAN extension is not critical.
    expect(cert.getExtension(x509.SubjectAlternativeNameExtension)?.critical).toBe(false);
  });

  it("mark the SAN extension critical when the subject is empty", async () => {
    const cert = peculiar((await issueCertificate(ca, { spiffeId: "spiffe://td/x", usage: "client" })).certPem);
    expect(cert.subject).toBe("");
    expect(cert.getExtension(x509.SubjectAlternativeNameExtension)?.critical).toBe(true);
  });

  it("last validityDays (30 by default) from five minutes back", async () => {
    const before = Date.now();
    const cert = await leaf({ usage: "client", commonName: "x" });
    const from = new Date(cert.validFrom).getTime();
    const to = new Date(cert.validTo).getTime();
    expect(from).toBeGreaterThanOrEqual(before - 300_000 - 1_000);
    expect(to - from).toBeGreaterThanOrEqual(30 * DAY_MS + 300_000 - 1_000);
    expect(to - from).toBeLessThanOrEqual(30 * DAY_MS + 300_000 + 1_000);
    const notBefore = new Date(Date.UTC(2030, 0, 1));
    const two = await leaf({ usage: "client", commonName: "x", notBefore, validityDays: 2 });
    expect(new Date(two.validTo).getTime()).toBe(notBefore.getTime() + 300_000 + 2 * DAY_MS);
    await expect(issueCertificate(ca, { usage: "client", validityDays: 0 })).rejects.toThrow(
      new RangeError("validityDays must be a number of days between 0 and 3650"),
    );
  });

  it("refuses an empty validity window and an unknown usage", async () => {
    const at = new Date(Date.UTC(2030, 0, 1));
    await expect(issueCertificate(ca, { usage: "client", notBefore: at, notAfter: at })).rejects.toThrow(
      new RangeError("notAfter must be later than notBefore"),
    );
    expect(await leaf({ usage: "client", notBefore: at, notAfter: new Date(at.getTime() + 1_000) })).toBeDefined();
    await expect(issueCertificate(ca, { usage: "peer" as never })).rejects.toThrow(new RangeError('usage must be "server", "client" or "both"'));
  });
});

describe("certificate requests", () => {
  const pemOf = (der: ArrayBuffer | Uint8Array, label: string) => x509.PemConverter.encode(der instanceof Uint8Array ? der.slice().buffer : der, label);

  it("sign the requester's key with the CA's names, never the request's", async () => {
    const { csrPem, keyPem } = await createCertificateRequest();
    const certPem = await signCertificateRequest(ca, csrPem, { spiffeId: "spiffe://td/plugin/kv", usage: "both" });
    const cert = new X509Certificate(certPem);
    expect(cert.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(cert.verify(ca.certificate.publicKey)).toBe(true);
    expect(cert.subjectAltName).toBe("URI:spiffe://td/plugin/kv");
    expect(new x509.Pkcs10CertificateRequest(csrPem).subject).toBe("");
  });

  it("refuse a request over the size limit, counting bytes", async () => {
    await expect(signCertificateRequest(ca, "x".repeat(MAX_CSR_PEM_BYTES + 1), { usage: "client" })).rejects.toThrow(
      new RangeError(`certificate request is larger than ${MAX_CSR_PEM_BYTES} bytes`),
    );
    await expect(signCertificateRequest(ca, `${"x".repeat(MAX_CSR_PEM_BYTES - 1)}é`, { usage: "client" })).rejects.toThrow(/larger than/);
    // Exactly at the limit: not too large, only not a request.
    await expect(signCertificateRequest(ca, "x".repeat(MAX_CSR_PEM_BYTES), { usage: "client" })).rejects.toThrow(
      new RangeError("certificate request is not a PEM PKCS#10 request"),
    );
  });

  it("refuse a request for another key type or curve", async () => {
    for (const algorithm of [
      { name: "ECDSA", namedCurve: "P-384", hash: "SHA-384" },
      { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 },
    ]) {
      const keys = (await subtle.generateKey(algorithm, true, ["sign", "verify"])) as CryptoKeyPair;
      const csr = await x509.Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm: algorithm }, cryptoProvider);
      await expect(signCertificateRequest(ca, csr.toString("pem"), { usage: "client" })).rejects.toThrow(
        new RangeError("certificate request must be for an ECDSA P-256 key"),
      );
    }
  });

  it("refuse a request whose self-signature does not verify", async () => {
    const { csrPem } = await createCertificateRequest();
    const der = new Uint8Array(x509.PemConverter.decodeFirst(csrPem));
    der[der.length - 1] = der[der.length - 1]! ^ 0x01;
    await expect(signCertificateRequest(ca, pemOf(der, "CERTIFICATE REQUEST"), { usage: "client" })).rejects.toThrow(
      new RangeError("certificate request signature does not verify"),
    );
  });
});

describe("readCertificateNames", () => {
  it("reads no names from a certificate without any", async () => {
    const names = readCertificateNames(await leaf({ usage: "client" }));
    expect(names).toMatchObject({ uris: [], dnsNames: [], commonNames: [], isCa: false });
  });

  it("sorts URI and DNS names, leaving IP addresses out, from a DER buffer too", async () => {
    const cert = await leaf({ commonName: "c", uris: ["spiffe://td/a", "https://x"], dnsNames: ["a.test", "b.test"], ipAddresses: ["127.0.0.1"], usage: "client" });
    const names = readCertificateNames(new Uint8Array(cert.raw));
    expect(names.uris).toEqual(["spiffe://td/a", "https://x"]);
    expect(names.dnsNames).toEqual(["a.test", "b.test"]);
    expect(names.commonNames).toEqual(["c"]);
    expect(names.notAfter.getTime()).toBe(new Date(cert.validTo).getTime());
    expect(names.notBefore.getTime()).toBe(new Date(cert.validFrom).getTime());
  });

  it("reads only CN attributes, from every RDN", async () => {
    const cert = await craft({ subject: "O=Org, CN=one, OU=Unit, CN=two" });
    expect(readCertificateNames(cert).commonNames).toEqual(["one", "two"]);
    // No basic constraints extension at all: not a CA.
    expect(readCertificateNames(cert).isCa).toBe(false);
  });

  it("reads every SAN extension, and the basic constraints wherever they are", async () => {
    const cert = await craft({
      subject: "O=Org",
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "first.test" }]),
        new x509.SubjectAlternativeNameExtension([{ type: "url", value: "spiffe://td/hidden" }]),
        new x509.BasicConstraintsExtension(true, undefined, true),
      ],
    });
    const names = readCertificateNames(cert);
    expect(names.dnsNames).toEqual(["first.test"]);
    expect(names.uris).toEqual(["spiffe://td/hidden"]);
    expect(names.isCa).toBe(true);
  });
});

describe("mTLS authenticator", () => {
  const authenticate = (cert: X509Certificate, opts?: MtlsAuthenticatorOptions) => createMtlsAuthenticator(opts)({ headers, peerCertificate: cert });
  afterEach(() => vi.useRealTimers());

  it("validates its options, naming each", () => {
    expect(() => createMtlsAuthenticator({ trustDomains: "td" as never })).toThrow(new TypeError("mtls: trustDomains must be a non-empty array when given"));
    expect(() => createMtlsAuthenticator({ trustDomains: [] })).toThrow(new TypeError("mtls: trustDomains must be a non-empty array when given"));
    expect(() => createMtlsAuthenticator({ trustDomains: ["td", "Bad"] })).toThrow(
      new TypeError(`mtls: trustDomains entry "Bad" is invalid: trust domain may contain only lowercase letters, digits, '.', '-' and '_'`),
    );
    expect(() => createMtlsAuthenticator({ trustDomains: ["td", "example.org"] })).not.toThrow();
    expect(() => createMtlsAuthenticator({ cnMapping: "x" as never })).toThrow(new TypeError("mtls: cnMapping must be a function"));
    expect(() => createMtlsAuthenticator({ roles: ["admin"] as never })).toThrow(new TypeError("mtls: roles must be a function"));
    expect(() => createMtlsAuthenticator({ cnMapping: () => true, roles: () => [] })).not.toThrow();
  });

  it("names a SPIFFE workload, its roles, the plugin it proves and its expiry", async () => {
    const cert = await leaf({ spiffeId: "spiffe://td/plugin/kv", usage: "client" });
    const roles = vi.fn((subject: string) => [`r:${subject}`]);
    expect(await authenticate(cert, { roles })).toEqual({
      kind: "external",
      subject: "spiffe://td/plugin/kv",
      method: "mtls",
      roles: ["r:spiffe://td/plugin/kv"],
      provesPluginName: "kv",
      expiresAt: new Date(cert.validTo).getTime(),
    });
    expect(await authenticate(cert, { pluginName: (s) => (s.endsWith("/kv") ? "custom" : undefined) })).toMatchObject({ provesPluginName: "custom" });
    expect(await authenticate(cert, { pluginName: () => "" })).not.toHaveProperty("provesPluginName");
    expect(await authenticate(await leaf({ spiffeId: "spiffe://td/svc", usage: "client" }))).not.toHaveProperty("provesPluginName");
  });

  it("refuses a certificate it cannot parse", async () => {
    const err = await refusal(createMtlsAuthenticator()({ headers, peerCertificate: { raw: Buffer.from("junk") } as X509Certificate }));
    expect(err.rawMessage).toBe("mTLS: client certificate could not be parsed");
  });

  it("accepts a certificate from its first to its last millisecond, not outside", async () => {
    const notBefore = new Date(Date.UTC(2031, 5, 1, 0, 0, 0));
    const notAfter = new Date(Date.UTC(2031, 5, 2, 0, 0, 0));
    const cert = await leaf({ spiffeId: "spiffe://td/w", usage: "client", notBefore, notAfter });
    vi.useFakeTimers({ toFake: ["Date"] });
    for (const [at, ok] of [
      [notBefore.getTime() - 1, false],
      [notBefore.getTime(), true],
      [notAfter.getTime(), true],
      [notAfter.getTime() + 1, false],
    ] as const) {
      vi.setSystemTime(at);
      if (ok) expect(await authenticate(cert)).toMatchObject({ subject: "spiffe://td/w" });
      else expect((await refusal(authenticate(cert))).rawMessage).toBe("mTLS: client certificate is not valid at this time");
    }
  });

  it("refuses a CA certificate", async () => {
    expect((await refusal(authenticate(ca.certificate, { allowCnFallback: true }))).rawMessage).toBe("mTLS: client certificate is a CA certificate, not a leaf");
  });

  it("names each SPIFFE refusal", async () => {
    const two = await leaf({ uris: ["spiffe://td/a", "spiffe://td/b"], usage: "client" });
    expect((await refusal(authenticate(two))).rawMessage).toBe("mTLS: client certificate has more than one SPIFFE ID URI SAN");
    const invalid = await leaf({ uris: ["spiffe://td/a//b"], usage: "client" });
    expect((await refusal(authenticate(invalid))).rawMessage).toBe(
      "mTLS: client certificate SPIFFE ID is invalid: SPIFFE ID path segments must not be empty (no '//' or trailing '/')",
    );
    const tdOnly = await leaf({ uris: ["spiffe://td"], usage: "client" });
    expect((await refusal(authenticate(tdOnly))).rawMessage).toBe("mTLS: client certificate SPIFFE ID names a trust domain, not a workload");
    const elsewhere = await leaf({ spiffeId: "spiffe://other.td/w", usage: "client" });
    expect((await refusal(authenticate(elsewhere, { trustDomains: ["td"] }))).rawMessage).toBe(
      "mTLS: client certificate SPIFFE trust domain is not accepted by this host",
    );
    expect(await authenticate(elsewhere, { trustDomains: ["td", "other.td"] })).toMatchObject({ subject: "spiffe://other.td/w" });
    expect(await authenticate(elsewhere)).toMatchObject({ subject: "spiffe://other.td/w" });
  });

  it("prefers the SPIFFE ID to a CN even with the fallback on", async () => {
    const cert = await leaf({ commonName: "cn", spiffeId: "spiffe://td/w", usage: "client" });
    expect(await authenticate(cert, { allowCnFallback: true })).toMatchObject({ subject: "spiffe://td/w" });
  });

  it("refuses a certificate without a SPIFFE ID unless a name fallback is configured", async () => {
    const cert = await leaf({ commonName: "ops", usage: "client" });
    for (const opts of [undefined, { allowCnFallback: false }, { allowCnFallback: "yes" as never }]) {
      expect((await refusal(authenticate(cert, opts))).rawMessage).toBe(
        "mTLS: client certificate carries no SPIFFE ID and certificate-name mapping is not configured",
      );
    }
    expect(await authenticate(cert, { allowCnFallback: true })).toMatchObject({ subject: "cn:ops" });
    expect(await authenticate(cert, { cnMapping: () => true })).toMatchObject({ subject: "cn:ops" });
  });

  it("falls back to the CN, else the first DNS name, else refuses", async () => {
    const opts = { allowCnFallback: true };
    expect(await authenticate(await leaf({ commonName: "ops", dnsNames: ["a.test"], usage: "client" }), opts)).toMatchObject({ subject: "cn:ops" });
    expect(await authenticate(await leaf({ dnsNames: ["a.test", "b.test"], usage: "client" }), opts)).toMatchObject({ subject: "dns:a.test" });
    const nameless = await leaf({ ipAddresses: ["127.0.0.1"], usage: "client" });
    expect((await refusal(authenticate(nameless, opts))).rawMessage).toBe(
      "mTLS: client certificate has neither a SPIFFE ID nor a common name or DNS name",
    );
    const twoCns = await craft({ subject: "CN=a, CN=b" });
    expect((await refusal(authenticate(twoCns, opts))).rawMessage).toBe("mTLS: client certificate has more than one common name");
  });

  it("maps names through cnMapping: a string names the principal, true takes the fallback, anything else refuses", async () => {
    const withCn = await leaf({ commonName: "ops", dnsNames: ["a.test", "b.test"], usage: "client" });
    const dnsOnly = await leaf({ dnsNames: ["a.test"], usage: "client" });
    const nameless = await leaf({ ipAddresses: ["127.0.0.1"], usage: "client" });
    const seen: unknown[] = [];
    const mapping = (cn: string, dns: string[]) => (seen.push([cn, dns]), cn === "ops" ? "operator" : true);
    expect(await authenticate(withCn, { cnMapping: mapping })).toMatchObject({ subject: "cn:operator" });
    expect(await authenticate(dnsOnly, { cnMapping: mapping })).toMatchObject({ subject: "dns:a.test" });
    expect(seen).toEqual([["ops", ["a.test", "b.test"]], ["", ["a.test"]]]);
    const notMapped = "mTLS: client certificate name is not mapped to an identity";
    expect((await refusal(authenticate(nameless, { cnMapping: () => true }))).rawMessage).toBe(notMapped);
    for (const answer of ["", false, undefined]) {
      expect((await refusal(authenticate(withCn, { cnMapping: () => answer }))).rawMessage).toBe(notMapped);
    }
  });
});

describe("AutoMTLS", () => {
  let auto: AutoTls;
  beforeAll(async () => {
    auto = await createAutoTls({ trustDomain: "auto.test", certTtlMs: 60_000 });
  });
  afterAll(() => auto.close());

  it("accepts the shortest certificate lifetime, and copies the host names", () => {
    const hostNames = ["a.test"];
    const resolved = resolveAutoTlsOptions({ certTtlMs: 2_000, hostNames });
    expect(resolved).toEqual({ trustDomain: "plugboard.local", certTtlMs: 2_000, hostNames: ["a.test"] });
    expect(resolved.hostNames).not.toBe(hostNames);
    expect(() => resolveAutoTlsOptions({ certTtlMs: 1_999 })).toThrow(/at least 2000 ms/);
  });

  it("names the host's server certificate plugboard-host, skipping empty and wildcard names", async () => {
    for (const host of ["", "::", "0.0.0.0"]) {
      const cert = new X509Certificate((await auto.serverCertificate(host)).certPem);
      expect(cert.subject).toBe("CN=plugboard-host");
      const names = readCertificateNames(cert);
      expect(names.dnsNames).toEqual(["localhost"]);
      expect(cert.subjectAltName).toBe("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1");
    }
  });

  it("tells IP addresses from DNS names by the whole name", async () => {
    const cert = new X509Certificate((await auto.serverCertificate("a1.2")).certPem);
    expect(readCertificateNames(cert).dnsNames).toEqual(["localhost", "a1.2"]);
    const other = new X509Certificate((await auto.serverCertificate("1.2a")).certPem);
    expect(readCertificateNames(other).dnsNames).toEqual(["localhost", "1.2a"]);
    const ip = new X509Certificate((await auto.serverCertificate("10.0.0.1")).certPem);
    expect(ip.checkIP("10.0.0.1")).toBe("10.0.0.1");
  });

  it("leaves a request without a certificate to other authenticators", async () => {
    expect(await auto.authenticator({ headers })).toBeUndefined();
  });

  it("has a CA of its own: a unique name, ten years", async () => {
    const caCert = new X509Certificate(auto.caPem);
    expect(caCert.subject).toMatch(/^CN=Plugboard AutoMTLS CA [0-9a-f]{16}$/);
    const other = await createAutoTls();
    other.close();
    expect(new X509Certificate(other.caPem).subject).not.toBe(caCert.subject);
    expect(new Date(caCert.validTo).getTime()).toBeGreaterThan(Date.now() + 3_649 * DAY_MS);
  });

  it("renews a plugin's certificate for the key of its request, with the plugin's SPIFFE ID", async () => {
    const { csrPem, keyPem } = await createCertificateRequest();
    const cert = new X509Certificate(await auto.renewPlugin("kv", csrPem));
    expect(cert.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(cert.verify(new X509Certificate(auto.caPem).publicKey)).toBe(true);
    expect(readCertificateNames(cert).uris).toEqual(["spiffe://auto.test/plugin/kv"]);
  });

  it("gives the host a client certificate of its own", () => {
    const first = auto.clientTls();
    expect(first.ca).toBe(auto.caPem);
    const cert = new X509Certificate(first.cert);
    expect(cert.subjectAltName).toBe("URI:spiffe://auto.test/host");
    expect(cert.subject).toBe("CN=plugboard-host");
    expect(cert.checkPrivateKey(createPrivateKey(first.key))).toBe(true);
  });

  it("renews the host's client certificate at half-life, and stops renewing when closed", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const renewing = await createAutoTls({ certTtlMs: 60_000 });
    try {
      const first = renewing.clientTls().cert;
      expect(vi.getTimerCount()).toBe(1);
      vi.advanceTimersByTime(30_000);
      await until(() => renewing.clientTls().cert !== first);
      const renewed = renewing.clientTls();
      expect(new X509Certificate(renewed.cert).checkPrivateKey(createPrivateKey(renewed.key))).toBe(true);
    } finally {
      renewing.close();
      expect(vi.getTimerCount()).toBe(0);
      vi.useRealTimers();
    }
  });
});
