import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * The caller identity the router adds to every routed call (header `plugboard-caller`),
 * HMAC-signed with the target provider's key so a provider can refuse calls that did not
 * come through the host, and cannot be fooled by a caller-supplied header.
 *
 * Wire format: `v1.<issuedAtMs>.<base64url(JSON claims)>.<base64url(HMAC-SHA256)>`, the MAC
 * covering `v1.<issuedAtMs>.<claims>.<path>`. `path` is the procedure path `/<pkg.Service>/<Method>`
 * (without any endpoint prefix or query), so the header is bound to the one method it was issued for.
 */
export interface CallerClaims {
  readonly subject: string;
  /** How the caller authenticated (token, mtls, jwt). */
  readonly method: string;
  readonly runtimeId?: string;
  readonly pluginName?: string;
}

export interface VerifiedCallerClaims extends CallerClaims {
  readonly path: string;
  readonly issuedAtMs: number;
}

export interface VerifyCallerHeaderOptions {
  /** Oldest header accepted (default 60 s). */
  maxAgeMs?: number;
  /** Clock for tests (default Date.now()). */
  now?: number;
  /** Tolerated clock skew for headers issued "in the future" (default 5 s). */
  maxFutureSkewMs?: number;
}

const VERSION = "v1";
/** Longest header value accepted before any parsing, against memory abuse. */
const MAX_HEADER_CHARS = 4096;
/** An HMAC-SHA256 in unpadded base64url: 43 characters of its alphabet. */
const MAC_TEXT = /^[A-Za-z0-9_-]{43}$/;

function mac(key: Buffer, signedPart: string, path: string): Buffer {
  return createHmac("sha256", key).update(signedPart).update(".").update(path).digest();
}

/** Sign claims for one call of `path` (`/<pkg.Service>/<Method>`). Cheap: one JSON encode and one HMAC. */
export function signCallerHeader(
  claims: CallerClaims & { readonly path: string },
  key: Buffer,
  now: number = Date.now(),
): string {
  const body: Record<string, string> = { sub: claims.subject, m: claims.method };
  if (claims.runtimeId !== undefined) body["rid"] = claims.runtimeId;
  if (claims.pluginName !== undefined) body["pn"] = claims.pluginName;
  const signedPart = `${VERSION}.${Math.floor(now)}.${Buffer.from(JSON.stringify(body)).toString("base64url")}`;
  return `${signedPart}.${mac(key, signedPart, claims.path).toString("base64url")}`;
}

/**
 * Verify a `plugboard-caller` value for a call of `path`. Returns the claims, or undefined when the
 * value is malformed, signed with another key, issued for another path, too old or from the future.
 */
export function verifyCallerHeader(
  value: string | undefined | null,
  key: Buffer,
  path: string,
  opts: VerifyCallerHeaderOptions = {},
): VerifiedCallerClaims | undefined {
  if (typeof value !== "string" || value.length > MAX_HEADER_CHARS) return undefined;
  const lastDot = value.lastIndexOf(".");
  if (lastDot < 0) return undefined;
  const signedPart = value.slice(0, lastDot);
  const parts = signedPart.split(".");
  if (parts.length !== 3 || parts[0] !== VERSION) return undefined;
  const iatText = parts[1] as string;
  if (!/^\d{1,15}$/.test(iatText)) return undefined;
  const issuedAtMs = Number(iatText);
  const now = opts.now ?? Date.now();
  if (now - issuedAtMs > (opts.maxAgeMs ?? 60_000)) return undefined;
  if (issuedAtMs - now > (opts.maxFutureSkewMs ?? 5_000)) return undefined;
  // Compare the canonical text: Node's base64url decoder skips invalid characters, so decoding the given MAC
  // would be lenient; and only base64url characters are let through, since latin1 keeps just the low byte
  // of a character (U+0141 would read as "A").
  const givenText = value.slice(lastDot + 1);
  if (!MAC_TEXT.test(givenText)) return undefined;
  const given = Buffer.from(givenText, "latin1");
  const expected = Buffer.from(mac(key, signedPart, path).toString("base64url"), "latin1");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(parts[2] as string, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof body !== "object" || body === null) return undefined;
  const b = body as Record<string, unknown>;
  if (typeof b["sub"] !== "string" || typeof b["m"] !== "string") return undefined;
  const claims: { -readonly [K in keyof VerifiedCallerClaims]: VerifiedCallerClaims[K] } = {
    subject: b["sub"],
    method: b["m"],
    path,
    issuedAtMs,
  };
  if (typeof b["rid"] === "string") claims.runtimeId = b["rid"];
  if (typeof b["pn"] === "string") claims.pluginName = b["pn"];
  return claims;
}
