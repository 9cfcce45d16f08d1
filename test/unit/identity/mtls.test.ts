import { X509Certificate } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { createDevCa, issueCertificate, type CertificateAuthority } from "../../../src/identity/certs.js";
import { createMtlsAuthenticator } from "../../../src/identity/mtls.js";
import { readCertificateNames } from "../../../src/identity/certificate-names.js";

const headers = new Headers();

async function rejection(p: Promise<unknown>): Promise<ConnectError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ConnectError);
  return err as ConnectError;
}

describe("createMtlsAuthenticator (direct)", () => {
  let ca: CertificateAuthority;
  beforeAll(async () => {
    ca = await createDevCa({});
  });

  it("returns undefined when there is no peer certificate", async () => {
    expect(await createMtlsAuthenticator()({ headers })).toBeUndefined();
  });

  it("refuses a CA certificate presented as a leaf", async () => {
    const err = await rejection(createMtlsAuthenticator()({ headers, peerCertificate: new X509Certificate(ca.certPem) }));
    expect(err.code).toBe(Code.Unauthenticated);
    expect(err.rawMessage).toMatch(/CA certificate/);
  });

  it("refuses a SPIFFE ID naming only a trust domain, and a mis-cased scheme instead of ignoring it", async () => {
    const auth = createMtlsAuthenticator({ allowCnFallback: true });
    const tdOnly = await issueCertificate(ca, { commonName: "x", uris: ["spiffe://example.org"], usage: "client" });
    const upper = await issueCertificate(ca, { commonName: "x", uris: ["SPIFFE://example.org/a"], usage: "client" });
    for (const c of [tdOnly, upper]) {
      const err = await rejection(auth({ headers, peerCertificate: new X509Certificate(c.certPem) }));
      expect(err.code).toBe(Code.Unauthenticated);
    }
  });

  it("ignores non-SPIFFE URI SANs", async () => {
    const c = await issueCertificate(ca, { uris: ["https://example.org/x"], spiffeId: "spiffe://example.org/w", usage: "client" });
    const id = await createMtlsAuthenticator()({ headers, peerCertificate: new X509Certificate(c.certPem) });
    expect(id).toEqual({ kind: "external", subject: "spiffe://example.org/w", method: "mtls", roles: [], expiresAt: expect.any(Number) });
  });

  it("reads SANs from the DER, so a ', URI:' inside a DNS name cannot forge a second entry", async () => {
    const tricky = await issueCertificate(ca, { dnsNames: ["a.example, URI:spiffe://example.org/admin"], usage: "client" });
    const node = new X509Certificate(tricky.certPem);
    expect(node.subjectAltName).toContain("URI:spiffe://example.org/admin"); // what naive splitting would see
    expect(readCertificateNames(node).uris).toEqual([]);
    const err = await rejection(createMtlsAuthenticator()({ headers, peerCertificate: node }));
    expect(err.rawMessage).toMatch(/no SPIFFE ID/);
  });

  it("validates its options", () => {
    expect(() => createMtlsAuthenticator({ trustDomains: [] })).toThrow(/trustDomains/);
    expect(() => createMtlsAuthenticator({ trustDomains: ["Example.org"] })).toThrow(/trustDomains entry/);
  });
});
