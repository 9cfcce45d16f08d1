/**
 * AutoMTLS (`tls: "auto"`): a throwaway CA made in memory when the host starts, a host
 * certificate, and one short-lived certificate per launched plugin carrying its SPIFFE ID
 * `spiffe://<trust domain>/plugin/<name>`. Nothing is written to disk; everything dies with
 * the host process. Host and plugins trust exactly this CA.
 */
import { X509Certificate, randomBytes } from "node:crypto";
import type { Authenticator } from "./identity.js";
import { createDevCa, issueCertificate, signCertificateRequest, type CertificateAuthority, type IssuedCertificate } from "./certs.js";
import { createMtlsAuthenticator } from "./mtls.js";
import { resolveAutoTlsOptions, type AutoTlsOptions } from "./auto-tls-options.js";

export { AUTO_TLS_DEFAULTS, resolveAutoTlsOptions, type AutoTlsOptions } from "./auto-tls-options.js";

/** The CA outlives every leaf by far; a host running longer than this needs a restart. */
const CA_VALIDITY_DAYS = 3650;
/** Host and plugins share a machine (the launcher starts them), so only sub-second skew needs cover. */
const BACKDATE_MS = 1_000;
const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"];

/** What a launched plugin receives (PEM), see launcher/env.ts. */
export interface PluginCredentials {
  certPem: string;
  keyPem: string;
  caPem: string;
}

export interface AutoTls {
  readonly trustDomain: string;
  readonly caPem: string;
  readonly certTtlMs: number;
  /** `spiffe://<trust domain>/plugin/<name>`. */
  pluginSpiffeId(pluginName: string): string;
  /** Authenticates certificates this CA issued (other CAs' certificates are left to other authenticators). */
  readonly authenticator: Authenticator;
  /** A server certificate for the host (loopback names, `hostname` and hostNames). */
  serverCertificate(hostname: string): Promise<IssuedCertificate>;
  /** The host's current client certificate, for calls to plugin servers; renewed at half-life. */
  clientTls(): { ca: string; cert: string; key: string };
  /** A certificate and key for a plugin about to be launched. */
  issuePlugin(pluginName: string): Promise<PluginCredentials>;
  /** A renewed certificate for `pluginName`'s key, from its PKCS#10 request. */
  renewPlugin(pluginName: string, csrPem: string): Promise<string>;
  /** Stops the renewal timer. */
  close(): void;
}

/** Splits host names into DNS names and IP addresses for the SAN extension. */
function sanNames(names: Iterable<string>): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const name of new Set(names)) {
    if (name === "" || name === "0.0.0.0" || name === "::") continue; // wildcard binds are not names
    if (/^[0-9.]+$/.test(name) || name.includes(":")) ipAddresses.push(name);
    else dnsNames.push(name);
  }
  return { dnsNames, ipAddresses };
}

export async function createAutoTls(options: AutoTlsOptions = {}): Promise<AutoTls> {
  const { trustDomain, certTtlMs, hostNames } = resolveAutoTlsOptions(options);
  // A random CN makes this CA's name unique, so "issued by this CA" cannot be confused with another's.
  const serial = randomBytes(8).toString("hex");
  const ca: CertificateAuthority = await createDevCa({ commonName: `Plugboard AutoMTLS CA ${serial}`, validityDays: CA_VALIDITY_DAYS });
  const caX509 = new X509Certificate(ca.certPem);
  const validity = () => {
    const now = Date.now();
    return { notBefore: new Date(now - BACKDATE_MS), notAfter: new Date(now + certTtlMs) };
  };
  const pluginSpiffeId = (name: string) => `spiffe://${trustDomain}/plugin/${name}`;
  const pluginCertificate = (name: string) => ({
    commonName: name,
    spiffeId: pluginSpiffeId(name),
    // Plugins serve on loopback when launched; "both": they serve, and they call the host.
    ...sanNames(LOOPBACK_NAMES),
    usage: "both" as const,
    ...validity(),
  });
  const hostClient = () =>
    issueCertificate(ca, { commonName: "plugboard-host", spiffeId: `spiffe://${trustDomain}/host`, usage: "client", ...validity() });

  let client = await hostClient();
  const renewClient = setInterval(() => {
    hostClient().then((next) => (client = next), () => undefined); // a failed renewal is retried at the next tick
  }, certTtlMs / 2);
  renewClient.unref();

  const mtls = createMtlsAuthenticator({ trustDomains: [trustDomain] });
  const authenticator: Authenticator = async (source) => {
    const peer = source.peerCertificate;
    // Certificates of another CA (a listener configured by hand) belong to other authenticators.
    if (peer === undefined || !peer.checkIssued(caX509) || !peer.verify(caX509.publicKey)) return undefined;
    return mtls(source);
  };

  return {
    trustDomain,
    caPem: ca.certPem,
    certTtlMs,
    pluginSpiffeId,
    authenticator,
    serverCertificate: (hostname) =>
      issueCertificate(ca, { commonName: "plugboard-host", ...sanNames([...LOOPBACK_NAMES, hostname, ...hostNames]), usage: "server", ...validity() }),
    clientTls: () => ({ ca: ca.certPem, cert: client.certPem, key: client.keyPem }),
    async issuePlugin(name) {
      const issued = await issueCertificate(ca, pluginCertificate(name));
      return { ...issued, caPem: ca.certPem };
    },
    renewPlugin: (name, csrPem) => signCertificateRequest(ca, csrPem, pluginCertificate(name)),
    close: () => clearInterval(renewClient),
  };
}
