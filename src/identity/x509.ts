/**
 * The one entry to @peculiar/x509, loaded on first use (certificate issuance only). It needs a
 * global Reflect metadata polyfill (through tsyringe) loaded before it, so importing plugboard must
 * not load it: only issuing a certificate does. Reading peer certificates uses @peculiar/asn1-x509,
 * which needs no polyfill (certificate-names.ts).
 */
export type X509 = typeof import("@peculiar/x509");

let loading: Promise<X509> | undefined;

export function loadX509(): Promise<X509> {
  return (loading ??= (async () => {
    await import("reflect-metadata");
    return import("@peculiar/x509");
  })());
}
