/**
 * SPIFFE ID parsing per the SPIFFE-ID standard (as go-spiffe enforces it).
 * Kept strict on purpose: anything ambiguous (upper case trust domains, percent
 * escapes, ports, user info, query, fragment, dot segments) is refused rather
 * than normalised, so two different strings never name the same workload.
 */

export const SPIFFE_SCHEME_PREFIX = "spiffe://";
/** Largest SPIFFE ID in bytes (X.509-SVID URI SAN limit). */
export const MAX_SPIFFE_ID_BYTES = 2048;
/** Largest trust domain name in bytes. */
export const MAX_TRUST_DOMAIN_BYTES = 255;

export interface SpiffeId {
  /** The full ID, exactly as given. */
  readonly id: string;
  readonly trustDomain: string;
  /** "" for a trust-domain ID, otherwise "/seg/seg". */
  readonly path: string;
}

export type SpiffeIdParseResult =
  | { readonly ok: true; readonly value: SpiffeId }
  | { readonly ok: false; readonly reason: string };

const TRUST_DOMAIN_CHAR = /^[a-z0-9._-]$/;
const PATH_SEGMENT = /^[A-Za-z0-9._-]+$/;

/** Why a trust domain name is invalid, or undefined when it is valid. */
export function trustDomainProblem(trustDomain: string): string | undefined {
  if (trustDomain.length === 0) return "trust domain is empty";
  if (Buffer.byteLength(trustDomain, "utf8") > MAX_TRUST_DOMAIN_BYTES) {
    return `trust domain is longer than ${MAX_TRUST_DOMAIN_BYTES} bytes`;
  }
  for (const ch of trustDomain) {
    if (TRUST_DOMAIN_CHAR.test(ch)) continue;
    if (ch === ":") return "trust domain must not contain a port";
    if (ch === "@") return "trust domain must not contain user info";
    return "trust domain may contain only lowercase letters, digits, '.', '-' and '_'";
  }
  return undefined;
}

export function isValidTrustDomain(trustDomain: string): boolean {
  return trustDomainProblem(trustDomain) === undefined;
}

/** Parses a SPIFFE ID; never throws. */
export function parseSpiffeId(input: string): SpiffeIdParseResult {
  const fail = (reason: string): SpiffeIdParseResult => ({ ok: false, reason });
  if (Buffer.byteLength(input, "utf8") > MAX_SPIFFE_ID_BYTES) {
    return fail(`SPIFFE ID is longer than ${MAX_SPIFFE_ID_BYTES} bytes`);
  }
  if (!input.startsWith(SPIFFE_SCHEME_PREFIX)) return fail("SPIFFE ID must start with spiffe://");
  if (input.includes("?")) return fail("SPIFFE ID must not contain a query");
  if (input.includes("#")) return fail("SPIFFE ID must not contain a fragment");

  const rest = input.slice(SPIFFE_SCHEME_PREFIX.length);
  const slash = rest.indexOf("/");
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? "" : rest.slice(slash);

  const tdProblem = trustDomainProblem(trustDomain);
  if (tdProblem !== undefined) return fail(tdProblem);

  if (path !== "") {
    // path starts with "/", so the first split element is always "".
    const segments = path.split("/").slice(1);
    for (const segment of segments) {
      if (segment === "") return fail("SPIFFE ID path segments must not be empty (no '//' or trailing '/')");
      if (segment === "." || segment === "..") return fail("SPIFFE ID path segments must not be '.' or '..'");
      if (!PATH_SEGMENT.test(segment)) {
        return fail("SPIFFE ID path may contain only letters, digits, '.', '-', '_' and '/'");
      }
    }
  }
  return { ok: true, value: { id: input, trustDomain, path } };
}
