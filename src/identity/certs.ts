/**
 * Certificate issuance for development, tests and `plugboard certs`.
 * ECDSA P-256 with SHA-256 everywhere: small keys, fast to generate, accepted
 * by Node's TLS stack and by every SPIFFE implementation.
 */
import { isIP } from "node:net";
import { webcrypto, X509Certificate as NodeX509Certificate } from "node:crypto";
import type * as X509Types from "@peculiar/x509";
import { loadX509, type X509 } from "./x509.js";
import { parseSpiffeId } from "./spiffe-id.js";

// @peculiar/x509 types its provider with the DOM Crypto type; Node's webcrypto is that at runtime.
const crypto = webcrypto as unknown as Crypto;
const KEY_ALGORITHM: EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING_ALGORITHM: EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
const DAY_MS = 24 * 60 * 60 * 1000;
/** Certificates are back-dated a little so small clock differences between hosts do not matter. */
const BACKDATE_MS = 5 * 60 * 1000;

export interface CertificateAuthority {
  readonly certPem: string;
  /** PKCS#8 PEM. */
  readonly keyPem: string;
  /** Node's view of the CA certificate (subject, validity, fingerprint). */
  readonly certificate: NodeX509Certificate;
  readonly privateKey: webcrypto.CryptoKey;
}

export interface IssuedCertificate {
  readonly certPem: string;
  /** PKCS#8 PEM. */
  readonly keyPem: string;
}

export interface DevCaOptions {
  commonName?: string;
  /** Default 365. */
  validityDays?: number;
}

export type CertificateUsage = "server" | "client" | "both";

export interface IssueCertificateOptions {
  /** Subject CN; omitted when undefined or "". */
  commonName?: string;
  /** Validated SPIFFE ID placed as a URI SAN. */
  spiffeId?: string;
  /** Extra URI SANs, written verbatim (tests use this for malformed or duplicate SPIFFE IDs). */
  uris?: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
  usage: CertificateUsage;
  /** Default 30; ignored when notAfter is given. */
  validityDays?: number;
  notBefore?: Date;
  notAfter?: Date;
}

function validityDays(value: number | undefined, fallback: number, field: string): number {
  const days = value ?? fallback;
  if (!Number.isFinite(days) || days <= 0 || days > 3650) {
    throw new RangeError(`${field} must be a number of days between 0 and 3650`);
  }
  return days;
}

async function generateKeyPair(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
}

async function exportPrivateKeyPem(x509: X509, key: CryptoKey): Promise<string> {
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(pkcs8, "PRIVATE KEY");
}

/** RFC 4514 escaping is done by building the name as JSON rather than as a string. */
function subjectName(x509: X509, commonName: string | undefined): X509Types.Name {
  return new x509.Name(commonName ? [{ "2.5.4.3": [commonName] }] : []);
}

export async function createDevCa(opts: DevCaOptions = {}): Promise<CertificateAuthority> {
  const commonName = opts.commonName ?? "Plugboard Dev CA";
  const days = validityDays(opts.validityDays, 365, "validityDays");
  const x509 = await loadX509();
  const keys = await generateKeyPair();
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: subjectName(x509, commonName),
      keys,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + days * DAY_MS),
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const certPem = certificate.toString("pem");
  return {
    certPem,
    keyPem: await exportPrivateKeyPem(x509, keys.privateKey),
    certificate: new NodeX509Certificate(certPem),
    privateKey: keys.privateKey,
  };
}

/** Loads a CA written by `plugboard certs` (or any P-256 CA with a PKCS#8 key). */
export async function loadCertificateAuthority(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  const x509 = await loadX509();
  const certificate = new NodeX509Certificate(certPem);
  const privateKey = await crypto.subtle.importKey(
    "pkcs8",
    x509.PemConverter.decodeFirst(keyPem),
    KEY_ALGORITHM,
    false,
    ["sign"],
  );
  return { certPem, keyPem, certificate, privateKey };
}

function extendedKeyUsages(x509: X509, usage: CertificateUsage): string[] {
  switch (usage) {
    case "server":
      return [x509.ExtendedKeyUsage.serverAuth];
    case "client":
      return [x509.ExtendedKeyUsage.clientAuth];
    case "both":
      return [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];
    default:
      throw new RangeError(`usage must be "server", "client" or "both"`);
  }
}

function subjectAltNames(opts: IssueCertificateOptions): X509Types.JsonGeneralName[] {
  const names: X509Types.JsonGeneralName[] = [];
  if (opts.spiffeId !== undefined) {
    const parsed = parseSpiffeId(opts.spiffeId);
    if (!parsed.ok) throw new RangeError(`spiffeId is invalid: ${parsed.reason}`);
    names.push({ type: "url", value: opts.spiffeId });
  }
  for (const uri of opts.uris ?? []) names.push({ type: "url", value: uri });
  for (const dns of opts.dnsNames ?? []) names.push({ type: "dns", value: dns });
  for (const ip of opts.ipAddresses ?? []) {
    if (isIP(ip) === 0) throw new RangeError(`ipAddresses contains an invalid IP address: ${ip}`);
    names.push({ type: "ip", value: ip });
  }
  return names;
}

export async function issueCertificate(
  ca: CertificateAuthority,
  opts: IssueCertificateOptions,
): Promise<IssuedCertificate> {
  const now = Date.now();
  const notBefore = opts.notBefore ?? new Date(now - BACKDATE_MS);
  const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + BACKDATE_MS + validityDays(opts.validityDays, 30, "validityDays") * DAY_MS);
  if (notAfter.getTime() <= notBefore.getTime()) throw new RangeError("notAfter must be later than notBefore");

  const x509 = await loadX509();
  const caCertificate = new x509.X509Certificate(ca.certPem);
  const keys = await generateKeyPair();
  const sans = subjectAltNames(opts);
  const extensions: X509Types.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(extendedKeyUsages(x509, opts.usage), false),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    await x509.AuthorityKeyIdentifierExtension.create(caCertificate, false, crypto),
  ];
  // RFC 5280: the SAN extension is critical when the subject name is empty.
  if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans, !opts.commonName));

  const certificate = await x509.X509CertificateGenerator.create(
    {
      subject: subjectName(x509, opts.commonName),
      issuer: caCertificate.subjectName,
      publicKey: keys.publicKey,
      signingKey: ca.privateKey as CryptoKey, // the same WebCrypto key; the DOM and Node typings differ
      notBefore,
      notAfter,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions,
    },
    crypto,
  );
  return { certPem: certificate.toString("pem"), keyPem: await exportPrivateKeyPem(x509, keys.privateKey) };
}
