/**
 * What an AutoMTLS CA made inside the test issues: the host's client certificate and a plugin's
 * renewed certificate. The CA is made in each test, not in a hook, so that mutation testing's
 * per-test coverage sees the code that builds these closures (docs/testing.md).
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createAutoTls } from "../../../src/identity/auto-tls.js";
import { readCertificateNames } from "../../../src/identity/certificate-names.js";
import { createCertificateRequest } from "../../../src/identity/certs.js";

describe("AutoMTLS issuance", () => {
  it("names the host's client certificate plugboard-host, with the host's SPIFFE ID", async () => {
    const auto = await createAutoTls({ trustDomain: "issue.test" });
    try {
      const cert = new X509Certificate(auto.clientTls().cert);
      expect(cert.subject).toBe("CN=plugboard-host");
      expect(readCertificateNames(cert).uris).toEqual(["spiffe://issue.test/host"]);
    } finally {
      auto.close();
    }
  });

  it("renews a plugin's certificate for the key of its request, with the plugin's SPIFFE ID", async () => {
    const auto = await createAutoTls({ trustDomain: "issue.test" });
    try {
      const { csrPem, keyPem } = await createCertificateRequest();
      const cert = new X509Certificate(await auto.renewPlugin("kv", csrPem));
      expect(cert.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
      expect(cert.verify(new X509Certificate(auto.caPem).publicKey)).toBe(true);
      expect(readCertificateNames(cert).uris).toEqual(["spiffe://issue.test/plugin/kv"]);
      expect(cert.subject).toBe("CN=kv");
    } finally {
      auto.close();
    }
  });
});
