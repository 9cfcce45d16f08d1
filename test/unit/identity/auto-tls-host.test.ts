/**
 * The host's side of AutoMTLS: the CA made once on first use, its authenticator and outgoing TLS
 * material delegating to it only once it exists, and listeners whose server certificate is
 * swapped in place at half-life. The listener is a stand-in recording what it was given.
 * Written against the survivors of `npm run mutate -- identity` (docs/testing.md).
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ListenOptions, RunningServer } from "../../../src/host/listen.js";
import { createAutoTlsSlot, listenWithAutoTls, liveUpstreamTls, type AutoTlsSlot } from "../../../src/identity/auto-tls-host.js";
import { readCertificateNames } from "../../../src/identity/certificate-names.js";

const headers = new Headers();

/** Waits (real time, generous bound) until `ready` holds. */
async function until(ready: () => boolean, timeoutMs = 20_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !ready(); ) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}
let slot: AutoTlsSlot | undefined;
afterEach(() => {
  slot?.close();
  slot = undefined;
});

describe("createAutoTlsSlot", () => {
  it("refuses bad options when made, not at listen", () => {
    expect(() => createAutoTlsSlot({ trustDomain: "Bad" })).toThrow(/autoTls.trustDomain "Bad" is invalid/);
    expect(() => createAutoTlsSlot({ certTtlMs: 10 })).toThrow(/certTtlMs/);
  });

  it("has no CA, authenticates nobody and closes quietly before start", async () => {
    slot = createAutoTlsSlot(undefined);
    expect(slot.current()).toBeUndefined();
    expect(await slot.authenticator({ headers })).toBeUndefined();
    expect(() => slot!.close()).not.toThrow();
  });

  it("makes one CA however often started, with the given options, and authenticates its certificates", async () => {
    slot = createAutoTlsSlot({ trustDomain: "slot.test" });
    const [a, b] = await Promise.all([slot.start(), slot.start()]);
    expect(a).toBe(b);
    expect(await slot.start()).toBe(a);
    expect(slot.current()).toBe(a);
    expect(a.trustDomain).toBe("slot.test");
    const cert = new X509Certificate((await a.issuePlugin("kv")).certPem);
    expect(await slot.authenticator({ headers, peerCertificate: cert })).toMatchObject({ subject: "spiffe://slot.test/plugin/kv", provesPluginName: "kv" });
  });

  it("closes the CA's renewal with the slot", async () => {
    slot = createAutoTlsSlot({});
    const auto = await slot.start();
    const close = vi.spyOn(auto, "close");
    slot.close();
    expect(close).toHaveBeenCalledOnce();
  });
});

describe("liveUpstreamTls", () => {
  it("gives the fallback until the CA exists, then the CA's current client certificate", async () => {
    slot = createAutoTlsSlot({});
    const fallback = { ca: "fallback-ca", cert: "fallback-cert", key: "fallback-key" };
    const tls = liveUpstreamTls(slot, fallback);
    expect([tls.ca, tls.cert, tls.key]).toEqual(["fallback-ca", "fallback-cert", "fallback-key"]);
    const auto = await slot.start();
    const client = auto.clientTls();
    expect([tls.ca, tls.cert, tls.key]).toEqual([client.ca, client.cert, client.key]);
  });

  it("gives nothing without a fallback before start", () => {
    slot = createAutoTlsSlot({});
    const tls = liveUpstreamTls(slot, undefined);
    expect([tls.ca, tls.cert, tls.key]).toEqual([undefined, undefined, undefined]);
  });
});

describe("listenWithAutoTls", () => {
  const standIn = () => {
    const setSecureContext = vi.fn();
    const close = vi.fn(async () => undefined);
    const given: ListenOptions[] = [];
    const listen = async (options: ListenOptions): Promise<RunningServer> => {
      given.push(options);
      return { url: "https://127.0.0.1:1", port: 1, server: { setSecureContext } as never, close };
    };
    return { listen, given, setSecureContext, close };
  };

  it("listens with a server certificate for the host name from the CA, asking for client certificates", async () => {
    slot = createAutoTlsSlot({ certTtlMs: 3_600_000 });
    const s = standIn();
    const running = await listenWithAutoTls(slot, { port: 0, hostname: "host.test" }, s.listen);
    const auto = slot.current()!;
    expect(running.url).toBe("https://127.0.0.1:1");
    expect(running.port).toBe(1);
    const tls = s.given[0]!.tls as { cert: string; key: string; ca: string; requestCert: boolean };
    expect(s.given[0]!.port).toBe(0);
    expect(tls.ca).toBe(auto.caPem);
    expect(tls.requestCert).toBe(true);
    const cert = new X509Certificate(tls.cert);
    expect(cert.checkHost("host.test")).toBe("host.test");
    expect(cert.verify(new X509Certificate(auto.caPem).publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(tls.key))).toBe(true);
    await running.close();
    expect(s.close).toHaveBeenCalledOnce();
  });

  it("names 127.0.0.1 when no host name is given", async () => {
    slot = createAutoTlsSlot({ certTtlMs: 3_600_000 });
    const s = standIn();
    await (await listenWithAutoTls(slot, {}, s.listen)).close();
    const cert = new X509Certificate((s.given[0]!.tls as { cert: string }).cert);
    expect(readCertificateNames(cert).dnsNames).toEqual(["localhost"]);
    expect(cert.checkIP("127.0.0.1")).toBe("127.0.0.1");
  });

  it("swaps in a fresh certificate at half-life, keeps trying after a failed swap, and stops when closed", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    try {
      slot = createAutoTlsSlot({ certTtlMs: 60_000 });
      const s = standIn();
      s.setSecureContext.mockImplementationOnce(() => {
        throw new Error("swap failed");
      });
      const running = await listenWithAutoTls(slot, { hostname: "127.0.0.1" }, s.listen);
      const first = (s.given[0]!.tls as { cert: string }).cert;
      // The CA's own renewal and this listener's swap.
      expect(vi.getTimerCount()).toBe(2);
      vi.advanceTimersByTime(30_000);
      await until(() => s.setSecureContext.mock.calls.length === 1);
      vi.advanceTimersByTime(30_000);
      await until(() => s.setSecureContext.mock.calls.length === 2);
      const swapped = s.setSecureContext.mock.calls[1]![0] as { cert: string; key: string; ca: string; minVersion: string };
      expect(swapped.cert).not.toBe(first);
      expect(swapped.ca).toBe(slot.current()!.caPem);
      expect(swapped.minVersion).toBe("TLSv1.2");
      expect(new X509Certificate(swapped.cert).checkPrivateKey(createPrivateKey(swapped.key))).toBe(true);
      await running.close();
      expect(vi.getTimerCount()).toBe(1);
      slot.close();
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
