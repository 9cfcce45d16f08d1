/**
 * Values that look like the real one must never pass: allow-list patterns matched by suffix,
 * trust domains compared by suffix, secrets compared by prefix. Each case here fails when a
 * check is loosened to a prefix/suffix match (the kinds of mutation a careless refactor makes).
 */
import { X509Certificate } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { createDevCa, issueCertificate, type CertificateAuthority } from "../../src/identity/certs.js";
import { createMtlsAuthenticator } from "../../src/identity/mtls.js";
import { createLaunchSecrets } from "../../src/handshake/launch-secrets.js";
import { secretsEqual } from "../../src/tokens/secret-compare.js";
import { validateBaseUrl } from "../../src/validation/urls.js";
import { COOKIE, startTestHost } from "../helpers/host.js";

const rules = { allowedEndpointHosts: ["*.svc.cluster.local", "plugins.internal"], maxBytes: 2048 };
const accepted = (url: string) => {
  try {
    validateBaseUrl("base_url", url, rules);
    return true;
  } catch (e) {
    expect(e).toBeInstanceOf(ConnectError);
    expect((e as ConnectError).code).toBe(Code.InvalidArgument);
    return false;
  }
};

/** Strings that share everything but one end with `real`. */
function lookAlikes(real: string): string[] {
  const last = real.at(-1) === "x" ? "y" : "x";
  return [
    real.slice(0, -1),                  // a prefix of it
    real.slice(0, -1) + last,           // differs only in the last character
    real + "x",                         // longer, with it as a prefix
    "x" + real.slice(1),                // differs only in the first character
    real.toUpperCase() === real ? real.toLowerCase() : real.toUpperCase(),
    "",
  ];
}

describe("allowed endpoint host patterns", () => {
  it("a wildcard matches whole labels only, never a look-alike suffix", () => {
    expect(accepted("https://a.svc.cluster.local:8080")).toBe(true);
    expect(accepted("https://a.b.svc.cluster.local:8080")).toBe(true);
    for (const host of ["evilsvc.cluster.local", "svc.cluster.local", "a.svc.cluster.local.evil.com", "a-svc.cluster.local"])
      expect(accepted(`https://${host}:8080`), host).toBe(false);
  });

  it("an exact host matches exactly", () => {
    expect(accepted("https://plugins.internal:1")).toBe(true);
    for (const host of ["evilplugins.internal", "plugins.internal.evil", "a.plugins.internal", "plugins.interna"])
      expect(accepted(`https://${host}:1`), host).toBe(false);
  });
});

describe("mTLS trust domains", () => {
  let ca: CertificateAuthority;
  beforeAll(async () => {
    ca = await createDevCa({});
  });

  it("compares the whole trust domain, never a suffix or prefix", async () => {
    const auth = createMtlsAuthenticator({ trustDomains: ["example.org"] });
    const subjectOf = async (spiffeId: string) => {
      const cert = await issueCertificate(ca, { spiffeId, usage: "client" });
      return auth({ headers: new Headers(), peerCertificate: new X509Certificate(cert.certPem) }).then(
        (id) => id?.subject,
        (e: unknown) => (e as ConnectError).code,
      );
    };
    expect(await subjectOf("spiffe://example.org/plugin/kv")).toBe("spiffe://example.org/plugin/kv");
    for (const td of ["notexample.org", "example.org.evil", "sub.example.org", "example.or", "xexample.org"])
      expect(await subjectOf(`spiffe://${td}/plugin/kv`), td).toBe(Code.Unauthenticated);
  });
});

describe("secret comparison", () => {
  const real = "5b6f0c6e-2f4d-4bfb-9a3c-8c1f0e5d7a21";

  it("secretsEqual accepts the value itself and nothing that merely resembles it", () => {
    expect(secretsEqual(real, real)).toBe(true);
    for (const other of lookAlikes(real)) expect(secretsEqual(other, real), JSON.stringify(other)).toBe(false);
  });

  it("a launch secret is accepted whole, once; look-alikes are refused and do not burn it", () => {
    const secrets = createLaunchSecrets();
    const secret = secrets.issue("kv");
    for (const other of lookAlikes(secret)) expect(secrets.consume("kv", other), other).toBe(false);
    expect(secrets.consume("kv", secret)).toBe(true);
    expect(secrets.consume("kv", secret)).toBe(false);
  });

  it("the host refuses a magic cookie that only resembles its own", async () => {
    const t = await startTestHost();
    try {
      for (const value of lookAlikes(COOKIE.value)) {
        const err = await t.handshake({ magicCookieValue: value }).then(
          () => undefined,
          (e: unknown) => e as ConnectError,
        );
        expect(err?.code, JSON.stringify(value)).toBe(Code.FailedPrecondition);
      }
      for (const key of lookAlikes(COOKIE.key)) {
        const err = await t.handshake({ magicCookieKey: key }).then(
          () => undefined,
          (e: unknown) => e as ConnectError,
        );
        expect(err?.code, JSON.stringify(key)).toBe(Code.FailedPrecondition);
      }
    } finally {
      await t.close();
    }
  });
});
