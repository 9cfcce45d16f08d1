import { X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAutoTls, resolveAutoTlsOptions, type AutoTls } from "../../../src/identity/auto-tls.js";
import { createDevCa, issueCertificate } from "../../../src/identity/certs.js";

describe("AutoMTLS certificate authority", () => {
  let auto: AutoTls;
  beforeAll(async () => {
    auto = await createAutoTls({ trustDomain: "auto.test", certTtlMs: 60_000, hostNames: ["host.internal"] });
  });
  afterAll(() => auto.close());

  it("issues plugin certificates carrying exactly spiffe://<td>/plugin/<name>, valid for certTtlMs", async () => {
    const creds = await auto.issuePlugin("kv");
    const cert = new X509Certificate(creds.certPem);
    expect(creds.caPem).toBe(auto.caPem);
    expect(cert.verify(new X509Certificate(auto.caPem).publicKey)).toBe(true);
    expect(cert.subjectAltName?.split(", ").filter((n) => n.startsWith("URI:"))).toEqual(["URI:spiffe://auto.test/plugin/kv"]);
    expect(cert.subjectAltName).toContain("IP Address:127.0.0.1");
    const lifetime = new Date(cert.validTo).getTime() - Date.now();
    expect(lifetime).toBeGreaterThan(50_000);
    expect(lifetime).toBeLessThanOrEqual(60_000);
  });

  it("names the listen host and hostNames in the server certificate, never a wildcard bind", async () => {
    const server = new X509Certificate((await auto.serverCertificate("0.0.0.0")).certPem);
    expect(server.checkHost("host.internal")).toBe("host.internal");
    expect(server.checkHost("localhost")).toBe("localhost");
    expect(server.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(server.checkIP("0.0.0.0")).toBeUndefined();
    const named = new X509Certificate((await auto.serverCertificate("plugboard.example")).certPem);
    expect(named.checkHost("plugboard.example")).toBe("plugboard.example");
  });

  it("authenticates its own certificates and leaves another CA's to other authenticators", async () => {
    const own = new X509Certificate((await auto.issuePlugin("billing")).certPem);
    expect(await auto.authenticator({ headers: new Headers(), peerCertificate: own })).toMatchObject({
      kind: "external",
      subject: "spiffe://auto.test/plugin/billing",
      method: "mtls",
    });
    const other = await createDevCa();
    const foreign = new X509Certificate((await issueCertificate(other, { spiffeId: "spiffe://elsewhere.test/plugin/x", usage: "client" })).certPem);
    expect(await auto.authenticator({ headers: new Headers(), peerCertificate: foreign })).toBeUndefined();
  });

  it("validates its options", () => {
    expect(resolveAutoTlsOptions()).toEqual({ trustDomain: "plugboard.local", certTtlMs: 86_400_000, hostNames: [] });
    expect(() => resolveAutoTlsOptions({ trustDomain: "Bad.Domain" })).toThrow(/autoTls.trustDomain "Bad.Domain" is invalid/);
    expect(() => resolveAutoTlsOptions({ certTtlMs: 1_000 })).toThrow(/autoTls.certTtlMs must be at least 2000 ms/);
  });
});
