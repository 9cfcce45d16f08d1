/**
 * AutoMTLS renewal on the plugin's side (startCertificateRenewal) with certificates from a CA made in
 * the test: renewed at half of the remaining life with a new key of its own, retried after a failure,
 * nothing written after stop, and no attempt for a certificate already expired.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createDevCa, issueCertificate, signCertificateRequest, type CertificateAuthority } from "../../../src/identity/certs.js";
import type { Logger } from "../../../src/log/logger.js";
import { hostSubjectAltName, startCertificateRenewal } from "../../../src/sdk/certificate-renewal.js";

const stops: (() => void)[] = [];
afterEach(() => {
  for (const s of stops.splice(0)) s();
});

function recordingLogger() {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (a: unknown, b?: unknown) => lines.push({ level, msg: String(typeof a === "string" ? a : b) });
  return { logger: { info: at("info"), warn: at("warn"), error: at("error"), debug: at("debug") } as unknown as Logger, lines };
}

let ca: CertificateAuthority;
const ID = "spiffe://td.test/plugin/kv";
async function credentials(lifetimeMs: number) {
  const now = Date.now();
  const issued = await issueCertificate(ca, { usage: "client", spiffeId: ID, notBefore: new Date(now - 60_000), notAfter: new Date(now + lifetimeMs) });
  return { cert: issued.certPem, key: issued.keyPem, ca: ca.certPem };
}
const sign = (csrPem: string) => signCertificateRequest(ca, csrPem, { usage: "client", spiffeId: ID, notAfter: new Date(Date.now() + 3_600_000) });

describe("certificate renewal", () => {
  it("at half of the remaining life, sends a request for a new key and swaps certificate and key in place", async () => {
    ca ??= await createDevCa();
    const creds = await credentials(3_000);
    const original = { ...creds };
    const { logger, lines } = recordingLogger();
    const requests: string[] = [];
    const renewed: Date[] = [];
    const r = startCertificateRenewal({
      credentials: creds,
      sign: async (csr) => {
        requests.push(csr);
        return sign(csr);
      },
      onRenewed: (notAfter) => renewed.push(notAfter),
      logger,
    });
    stops.push(() => r.stop());
    await expect.poll(() => renewed.length, { timeout: 10_000 }).toBe(1);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
    expect(creds.cert).not.toBe(original.cert);
    expect(creds.key).not.toBe(original.key);
    expect(creds.ca).toBe(original.ca);
    const cert = new X509Certificate(creds.cert);
    expect(cert.checkPrivateKey(createPrivateKey(creds.key))).toBe(true);
    expect(renewed[0]!.getTime()).toBe(new Date(cert.validTo).getTime());
    expect(lines).toContainEqual({ level: "info", msg: "AutoMTLS certificate renewed" });
  });

  it("retries after a failed attempt", async () => {
    ca ??= await createDevCa();
    const creds = await credentials(3_000);
    const { logger, lines } = recordingLogger();
    let attempts = 0;
    const renewed: Date[] = [];
    const r = startCertificateRenewal({
      credentials: creds,
      sign: async (csr) => {
        if (++attempts === 1) throw new Error("host unavailable");
        return sign(csr);
      },
      onRenewed: (notAfter) => renewed.push(notAfter),
      logger,
    });
    stops.push(() => r.stop());
    await expect.poll(() => renewed.length, { timeout: 10_000 }).toBe(1);
    expect(attempts).toBe(2);
    expect(lines).toContainEqual({ level: "warn", msg: "AutoMTLS certificate renewal failed; retrying" });
  });

  it("writes nothing when stopped while a renewal was under way", async () => {
    ca ??= await createDevCa();
    const creds = await credentials(3_000);
    const original = { ...creds };
    const { logger } = recordingLogger();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let asked!: () => void;
    const signing = new Promise<void>((resolve) => (asked = resolve));
    const renewed: Date[] = [];
    let signed: Promise<string> | undefined;
    const r = startCertificateRenewal({
      credentials: creds,
      sign: async (csr) => {
        asked();
        await gate;
        signed = sign(csr);
        return signed;
      },
      onRenewed: (notAfter) => renewed.push(notAfter),
      logger,
    });
    await signing;
    r.stop();
    release();
    await expect.poll(() => signed, { timeout: 10_000 }).toBeDefined();
    await signed;
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(creds).toEqual(original);
    expect(renewed).toEqual([]);
  });

  it("does not try for a certificate already expired, and says so", async () => {
    ca ??= await createDevCa();
    const creds = await credentials(-5_000);
    const { logger, lines } = recordingLogger();
    let asked = 0;
    const r = startCertificateRenewal({ credentials: creds, sign: async () => (asked++, ""), onRenewed: () => undefined, logger });
    stops.push(() => r.stop());
    expect(asked).toBe(0);
    expect(lines).toEqual([{ level: "error", msg: "AutoMTLS certificate expired without renewal; new connections to and from the host will fail" }]);
  });
});

describe("certificate renewal: stop, the last half second, and what the log says", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Records each line's fields too. */
  function fieldLogger() {
    const lines: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
    const at = (level: string) => (a: unknown, b?: unknown) =>
      lines.push(typeof a === "string" ? { level, fields: {}, msg: a } : { level, fields: a as Record<string, unknown>, msg: String(b) });
    return { logger: { info: at("info"), warn: at("warn"), error: at("error"), debug: at("debug") } as unknown as Logger, lines };
  }

  it("the renewal's log lines carry the new expiry and the failure", async () => {
    ca ??= await createDevCa();
    const creds = await credentials(3_000);
    const { logger, lines } = fieldLogger();
    let attempts = 0;
    const renewed: Date[] = [];
    const r = startCertificateRenewal({
      credentials: creds,
      sign: async (csr) => {
        if (++attempts === 1) throw new Error("host unavailable");
        return sign(csr);
      },
      onRenewed: (notAfter) => renewed.push(notAfter),
      logger,
    });
    stops.push(() => r.stop());
    await expect.poll(() => renewed.length, { timeout: 10_000 }).toBe(1);
    expect(lines).toEqual([
      { level: "warn", fields: { err: "Error: host unavailable" }, msg: "AutoMTLS certificate renewal failed; retrying" },
      { level: "info", fields: { notAfter: renewed[0]!.toISOString() }, msg: "AutoMTLS certificate renewed" },
    ]);
  });

  it("stopped before the half-life, it never asks the host", async () => {
    ca ??= await createDevCa();
    const creds = await credentials(2_000);
    const { logger, lines } = fieldLogger();
    let asked = 0;
    const r = startCertificateRenewal({ credentials: creds, sign: async (csr) => (asked++, sign(csr)), onRenewed: () => undefined, logger });
    r.stop();
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // past the half-life (≤ 1 s)
    expect(asked).toBe(0);
    expect(lines).toEqual([]);
  });

  it("stopped while an attempt was under way that then fails, it does not try again", async () => {
    ca ??= await createDevCa();
    const creds = await credentials(3_000);
    const { logger, lines } = fieldLogger();
    let attempts = 0;
    let asked!: () => void;
    const signing = new Promise<void>((resolve) => (asked = resolve));
    let fail!: () => void;
    const r = startCertificateRenewal({
      credentials: creds,
      sign: async () => {
        attempts++;
        asked();
        await new Promise<void>((resolve) => (fail = resolve));
        throw new Error("host unavailable");
      },
      onRenewed: () => undefined,
      logger,
    });
    await signing;
    r.stop();
    fail();
    // A retry would be scheduled at half of what is left (≤ 1 s); past it, and past the expiry.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(attempts).toBe(1);
    expect(lines.map((l) => l.level)).toEqual(["warn"]);
  });

  it("gives up below half a second left; exactly half a second is still tried", async () => {
    ca ??= await createDevCa();
    const creds = await credentials(60_000);
    const notAfter = new Date(new X509Certificate(creds.cert).validTo).getTime();
    vi.useFakeTimers({ toFake: ["Date"] });

    vi.setSystemTime(notAfter - 500);
    const half = fieldLogger();
    const r1 = startCertificateRenewal({ credentials: creds, sign: async () => "", onRenewed: () => undefined, logger: half.logger });
    r1.stop();
    expect(half.lines).toEqual([]);

    vi.setSystemTime(notAfter - 499);
    const less = fieldLogger();
    const r2 = startCertificateRenewal({ credentials: creds, sign: async () => "", onRenewed: () => undefined, logger: less.logger });
    r2.stop();
    expect(less.lines.map((l) => l.level)).toEqual(["error"]);
  });
});

describe("hostSubjectAltName", () => {
  it("is the host's SPIFFE ID in the trust domain of the plugin's own certificate", async () => {
    ca ??= await createDevCa();
    const creds = await credentials(60_000);
    expect(hostSubjectAltName(creds.cert)).toBe("URI:spiffe://td.test/host");
    const other = await issueCertificate(ca, { usage: "client", spiffeId: "spiffe://td.test/host" });
    expect(() => hostSubjectAltName(other.certPem)).toThrow("createPlugin: the AutoMTLS certificate carries no spiffe://<trust domain>/plugin/<name> ID");
    const none = await issueCertificate(ca, { usage: "client", commonName: "x" });
    expect(() => hostSubjectAltName(none.certPem)).toThrow(/carries no spiffe/);
  });
});
