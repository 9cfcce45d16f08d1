/**
 * Names in a peer certificate, read from the DER with @peculiar/asn1-x509. Node's
 * `subjectAltName` text joins entries with ", " and is unsafe to split: a URI
 * or DNS value can contain that sequence and forge an extra entry. The ASN.1
 * schema package, unlike @peculiar/x509, needs no global Reflect polyfill.
 */
import type { X509Certificate as NodeX509Certificate } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import {
  BasicConstraints,
  Certificate,
  SubjectAlternativeName,
  id_ce_basicConstraints,
  id_ce_subjectAltName,
} from "@peculiar/asn1-x509";

const ID_AT_COMMON_NAME = "2.5.4.3";

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
  const tbs = AsnConvert.parse(new Uint8Array(raw), Certificate).tbsCertificate;
  const extensions = tbs.extensions ?? [];
  const uris: string[] = [];
  const dnsNames: string[] = [];
  // Every SAN extension: a certificate smuggling a second one must not hide names.
  for (const extension of extensions.filter((e) => e.extnID === id_ce_subjectAltName)) {
    for (const name of AsnConvert.parse(extension.extnValue.buffer, SubjectAlternativeName)) {
      if (name.uniformResourceIdentifier !== undefined) uris.push(name.uniformResourceIdentifier);
      else if (name.dNSName !== undefined) dnsNames.push(name.dNSName);
    }
  }
  const basic = extensions.find((e) => e.extnID === id_ce_basicConstraints);
  const commonNames = tbs.subject.flatMap((rdn) => rdn.filter((a) => a.type === ID_AT_COMMON_NAME).map((a) => a.value.toString()));
  return {
    uris,
    dnsNames,
    commonNames,
    isCa: basic ? AsnConvert.parse(basic.extnValue.buffer, BasicConstraints).cA : false,
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
  };
}
