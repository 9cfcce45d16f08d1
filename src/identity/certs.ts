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
  const x509 = await loadX509();
  const keys = await generateKeyPair();
  const certPem = await signLeaf(x509, ca, keys.publicKey, opts);
  return { certPem, keyPem: await exportPrivateKeyPem(x509, keys.privateKey) };
}

/** Largest PKCS#10 request accepted, in bytes of PEM. */
export const MAX_CSR_PEM_BYTES = 8 * 1024;

/**
 * Signs a certificate for the public key of a PKCS#10 request. Only the key is taken from the
 * request (after checking its self-signature, which proves the requester holds the private key):
 * names and usages come from `opts`, i.e. from what the CA decided, never from the requester.
 */
export async function signCertificateRequest(
  ca: CertificateAuthority,
  csrPem: string,
  opts: IssueCertificateOptions,
): Promise<string> {
  if (Buffer.byteLength(csrPem) > MAX_CSR_PEM_BYTES) throw new RangeError(`certificate request is larger than ${MAX_CSR_PEM_BYTES} bytes`);
  const x509 = await loadX509();
  let csr: X509Types.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch {
    throw new RangeError("certificate request is not a PEM PKCS#10 request");
  }
  const algorithm = csr.publicKey.algorithm as Partial<EcKeyAlgorithm>;
  if (algorithm.name !== "ECDSA" || algorithm.namedCurve !== "P-256") throw new RangeError("certificate request must be for an ECDSA P-256 key");
  if (!(await csr.verify(crypto))) throw new RangeError("certificate request signature does not verify");
  return signLeaf(x509, ca, await csr.publicKey.export(crypto), opts);
}

/** A fresh P-256 key pair and a PKCS#10 request for it (the requester side of signCertificateRequest). */
export async function createCertificateRequest(): Promise<{ csrPem: string; keyPem: string }> {
  const x509 = await loadX509();
  const keys = await generateKeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm: SIGNING_ALGORITHM }, crypto);
  return { csrPem: csr.toString("pem"), keyPem: await exportPrivateKeyPem(x509, keys.privateKey) };
}

async function signLeaf(x509: X509, ca: CertificateAuthority, publicKey: CryptoKey, opts: IssueCertificateOptions): Promise<string> {
  const now = Date.now();
  const notBefore = opts.notBefore ?? new Date(now - BACKDATE_MS);
  const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + BACKDATE_MS + validityDays(opts.validityDays, 30, "validityDays") * DAY_MS);
  if (notAfter.getTime() <= notBefore.getTime()) throw new RangeError("notAfter must be later than notBefore");

  const caCertificate = new x509.X509Certificate(ca.certPem);
  const sans = subjectAltNames(opts);
  const extensions: X509Types.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(extendedKeyUsages(x509, opts.usage), false),
    await x509.SubjectKeyIdentifierExtension.create(publicKey, false, crypto),
    await x509.AuthorityKeyIdentifierExtension.create(caCertificate, false, crypto),
  ];
  // RFC 5280: the SAN extension is critical when the subject name is empty.
  if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans, !opts.commonName));

  const certificate = await x509.X509CertificateGenerator.create(
    {
      subject: subjectName(x509, opts.commonName),
      issuer: caCertificate.subjectName,
      publicKey,
      signingKey: ca.privateKey as CryptoKey, // the same WebCrypto key; the DOM and Node typings differ
      notBefore,
      notAfter,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions,
    },
    crypto,
  );
  return certificate.toString("pem");
}
