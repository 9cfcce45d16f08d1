/**
 * mTLS authenticator: turns the TLS-verified peer certificate into an identity.
 * The TLS layer already checked the chain against the configured CA; here we
 * decide *who* the certificate names: a SPIFFE ID (preferred) or, only when
 * configured, its CN / DNS SAN.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { Authenticator, Identity } from "./identity.js";
import type { CertificateNames } from "./certificate-names.js";

// The ASN.1 parser is loaded with the first client certificate, not with plugboard (it is most of
// the import time of the root package, and most hosts never see a client certificate).
let certificateNames: Promise<typeof import("./certificate-names.js")> | undefined;
const loadCertificateNames = () => (certificateNames ??= import("./certificate-names.js"));
import { parseSpiffeId, trustDomainProblem } from "./spiffe-id.js";
import { pluginNameFromSpiffeId } from "./name-proof.js";

export interface MtlsAuthenticatorOptions {
  /**
   * Accepted SPIFFE trust domains. When omitted every valid trust domain is
   * accepted (the CA the TLS server trusts is then the only anchor).
   */
  trustDomains?: string[];
  /**
   * Maps a certificate without a SPIFFE ID to a name. Receives the CN ("" when
   * absent) and the DNS SANs. `true` accepts the CN (or first DNS SAN) as is, a
   * string names the principal (`cn:<string>`), `false`/undefined refuses.
   * Setting it enables the fallback.
   */
  cnMapping?: (cn: string, sanDns: string[]) => string | undefined | boolean;
  /** Accept any CA-verified CN (or first DNS SAN) when there is no SPIFFE ID. Default false. */
  allowCnFallback?: boolean;
  /** Roles for the subject (RBAC); default none. */
  roles?: (subject: string) => string[];
  /**
   * The plugin name a certificate proves at handshake, from its subject. Default:
   * `spiffe://<trust domain>/plugin/<name>` → `<name>`; anything else proves no name.
   */
  pluginName?: (subject: string) => string | undefined;
}

function unauthenticated(message: string): ConnectError {
  return new ConnectError(`mTLS: ${message}`, Code.Unauthenticated);
}

function validateOptions(opts: MtlsAuthenticatorOptions): void {
  if (opts.trustDomains !== undefined) {
    if (!Array.isArray(opts.trustDomains) || opts.trustDomains.length === 0) {
      throw new TypeError("mtls: trustDomains must be a non-empty array when given");
    }
    for (const td of opts.trustDomains) {
      const problem = trustDomainProblem(td);
      if (problem !== undefined) throw new TypeError(`mtls: trustDomains entry "${td}" is invalid: ${problem}`);
    }
  }
  if (opts.cnMapping !== undefined && typeof opts.cnMapping !== "function") {
    throw new TypeError("mtls: cnMapping must be a function");
  }
  if (opts.roles !== undefined && typeof opts.roles !== "function") {
    throw new TypeError("mtls: roles must be a function");
  }
}

/** The SPIFFE URI SANs, including mis-cased schemes, so that they are refused rather than ignored. */
function spiffeUris(names: CertificateNames): string[] {
  return names.uris.filter((uri) => uri.slice(0, 7).toLowerCase() === "spiffe:");
}

function spiffeSubject(uri: string, trustDomains: ReadonlySet<string> | undefined): string {
  const parsed = parseSpiffeId(uri);
  if (!parsed.ok) throw unauthenticated(`client certificate SPIFFE ID is invalid: ${parsed.reason}`);
  if (parsed.value.path === "") {
    throw unauthenticated("client certificate SPIFFE ID names a trust domain, not a workload");
  }
  if (trustDomains !== undefined && !trustDomains.has(parsed.value.trustDomain)) {
    throw unauthenticated("client certificate SPIFFE trust domain is not accepted by this host");
  }
  return parsed.value.id;
}

function nameSubject(names: CertificateNames, opts: MtlsAuthenticatorOptions): string {
  if (names.commonNames.length > 1) throw unauthenticated("client certificate has more than one common name");
  const cn = names.commonNames[0] ?? "";
  const fallbackSubject = cn !== "" ? `cn:${cn}` : names.dnsNames[0] !== undefined ? `dns:${names.dnsNames[0]}` : undefined;

  if (opts.cnMapping !== undefined) {
    const mapped = opts.cnMapping(cn, [...names.dnsNames]);
    if (typeof mapped === "string" && mapped !== "") return `cn:${mapped}`;
    if (mapped === true && fallbackSubject !== undefined) return fallbackSubject;
    throw unauthenticated("client certificate name is not mapped to an identity");
  }
  if (fallbackSubject === undefined) {
    throw unauthenticated("client certificate has neither a SPIFFE ID nor a common name or DNS name");
  }
  return fallbackSubject;
}

export function createMtlsAuthenticator(opts: MtlsAuthenticatorOptions = {}): Authenticator {
  validateOptions(opts);
  const trustDomains = opts.trustDomains === undefined ? undefined : new Set(opts.trustDomains);
  const nameFallback = opts.cnMapping !== undefined || opts.allowCnFallback === true;

  return async (source) => {
    const peer = source.peerCertificate;
    if (peer === undefined) return undefined;

    const { readCertificateNames } = await loadCertificateNames();
    let names: CertificateNames;
    try {
      names = readCertificateNames(peer);
    } catch {
      throw unauthenticated("client certificate could not be parsed");
    }
    // The TLS layer checks validity too; checking again costs nothing and covers long-lived connections.
    const now = Date.now();
    if (now < names.notBefore.getTime() || now > names.notAfter.getTime()) {
      throw unauthenticated("client certificate is not valid at this time");
    }
    if (names.isCa) throw unauthenticated("client certificate is a CA certificate, not a leaf");

    const spiffe = spiffeUris(names);
    let subject: string;
    if (spiffe.length > 1) {
      throw unauthenticated("client certificate has more than one SPIFFE ID URI SAN");
    } else if (spiffe.length === 1) {
      subject = spiffeSubject(spiffe[0]!, trustDomains);
    } else if (nameFallback) {
      subject = nameSubject(names, opts);
    } else {
      throw unauthenticated("client certificate carries no SPIFFE ID and certificate-name mapping is not configured");
    }

    const pluginName = (opts.pluginName ?? pluginNameFromSpiffeId)(subject);
    const identity: Identity = {
      kind: "external",
      subject,
      method: "mtls",
      roles: opts.roles?.(subject) ?? [],
      ...(pluginName ? { provesPluginName: pluginName } : {}),
      expiresAt: names.notAfter.getTime(),
    };
    return identity;
  };
}
