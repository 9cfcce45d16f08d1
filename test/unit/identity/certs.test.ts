import { X509Certificate, createPrivateKey } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { createDevCa, issueCertificate, loadCertificateAuthority, type CertificateAuthority } from "../../../src/identity/certs.js";

describe("dev certificates", () => {
  let ca: CertificateAuthority;
  beforeAll(async () => {
    ca = await createDevCa({ commonName: "Unit CA", validityDays: 10 });
  });

  it("creates a self-signed CA with a PKCS#8 P-256 key", () => {
    const cert = new X509Certificate(ca.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe("CN=Unit CA");
    expect(cert.verify(cert.publicKey)).toBe(true);
    const key = createPrivateKey(ca.keyPem);
    expect(key.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(Date.parse(cert.validTo) - Date.now()).toBeLessThanOrEqual(10 * 24 * 3600 * 1000);
  });

  it("issues leaves with the requested names, usage and dates", async () => {
    const notBefore = new Date(Date.UTC(2020, 0, 1));
    const notAfter = new Date(Date.UTC(2020, 0, 2));
    const leaf = await issueCertificate(ca, { commonName: "svc", spiffeId: "spiffe://td/svc", dnsNames: ["svc.local"], ipAddresses: ["::1"], usage: "server", notBefore, notAfter });
    const cert = new X509Certificate(leaf.certPem);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(cert.subjectAltName).toBe("URI:spiffe://td/svc, DNS:svc.local, IP Address:0:0:0:0:0:0:0:1");
    expect(cert.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1"]);
    expect(new Date(cert.validFrom).getTime()).toBe(notBefore.getTime());
    expect(new Date(cert.validTo).getTime()).toBe(notAfter.getTime());
    expect(cert.checkPrivateKey(createPrivateKey(leaf.keyPem))).toBe(true);
  });

  it("issues CN-only certificates without a SAN extension", async () => {
    const leaf = new X509Certificate((await issueCertificate(ca, { commonName: "legacy", usage: "client" })).certPem);
    expect(leaf.subjectAltName).toBeUndefined();
    expect(leaf.keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"]);
  });

  it("round-trips a CA through PEM", async () => {
    const loaded = await loadCertificateAuthority(ca.certPem, ca.keyPem);
    const leaf = await issueCertificate(loaded, { spiffeId: "spiffe://td/x", usage: "both" });
    expect(new X509Certificate(leaf.certPem).verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
  });

  it("validates its inputs", async () => {
    await expect(issueCertificate(ca, { spiffeId: "spiffe://TD/x", usage: "client" })).rejects.toThrow(/spiffeId/);
    await expect(issueCertificate(ca, { ipAddresses: ["300.1.1.1"], usage: "client" })).rejects.toThrow(/ipAddresses/);
    await expect(issueCertificate(ca, { usage: "client", notBefore: new Date(2), notAfter: new Date(1) })).rejects.toThrow(/notAfter/);
    await expect(createDevCa({ validityDays: 0 })).rejects.toThrow(/validityDays/);
  });
});
