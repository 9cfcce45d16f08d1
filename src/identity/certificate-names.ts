/**
 * Names in a peer certificate, read from the DER with @peculiar/x509. Node's
 * `subjectAltName` text joins entries with ", " and is unsafe to split: a URI
 * or DNS value can contain that sequence and forge an extra entry.
 */
import type { X509Certificate as NodeX509Certificate } from "node:crypto";
import * as x509 from "./x509.js";

export interface CertificateNames {
  /** All URI SANs, in certificate order. */
  readonly uris: readonly string[];
  readonly dnsNames: readonly string[];
  /** Every subject CN attribute (normally zero or one). */
  readonly commonNames: readonly string[];
  /** basicConstraints cA flag. */
  readonly isCa: boolean;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Throws a plain Error when the certificate cannot be decoded; callers map it to their error code. */
export function readCertificateNames(cert: NodeX509Certificate | Uint8Array): CertificateNames {
  const raw = cert instanceof Uint8Array ? cert : cert.raw;
  const parsed = new x509.X509Certificate(new Uint8Array(raw));
  const uris: string[] = [];
  const dnsNames: string[] = [];
  // getExtensions (plural): a certificate smuggling a second SAN extension must not hide names.
  for (const san of parsed.getExtensions(x509.SubjectAlternativeNameExtension)) {
    for (const name of san.names.items) {
      if (name.type === "url") uris.push(name.value);
      else if (name.type === "dns") dnsNames.push(name.value);
    }
  }
  const basic = parsed.getExtension(x509.BasicConstraintsExtension);
  return {
    uris,
    dnsNames,
    commonNames: parsed.subjectName.getField("CN"),
    isCa: basic?.ca === true,
    notBefore: parsed.notBefore,
    notAfter: parsed.notAfter,
  };
}
