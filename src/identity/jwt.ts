/**
 * JWT bearer authenticator verified against a remote JWKS (jose). Only
 * asymmetric algorithms from an allow-list are accepted: `none` and HMAC are
 * refused outright, which closes the classic "alg: none" and RS→HS key
 * confusion attacks before any key is looked up.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { JWTPayload } from "jose";

type Jose = typeof import("jose");
// jose is loaded with the first JWT, not with plugboard: most hosts never see one.
let jose: Promise<Jose> | undefined;
const loadJose = () => (jose ??= import("jose"));
import { TOKEN_PREFIX } from "../protocol/constants.js";
import { bearerToken } from "./bearer.js";
import type { Authenticator, Identity } from "./identity.js";
import { createReplayCache, type ReplayCache } from "./replay-cache.js";

export const JWT_ASYMMETRIC_ALGORITHMS = [
  "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519",
] as const;
export const DEFAULT_JWT_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA"];

export interface JwtAuthenticatorOptions {
  /** https, or http on a loopback host (tests, sidecars). */
  jwksUrl: string;
  issuer: string | string[];
  audience: string | string[];
  /** Default DEFAULT_JWT_ALGORITHMS; only asymmetric algorithms are allowed. */
  algorithms?: string[];
  /** Leeway for exp/nbf/iat in seconds. Default 30, max 60. */
  clockToleranceSec?: number;
  /** Refuse tokens without a `jti`. Default false (true when replayCache is on). */
  requireJti?: boolean;
  /** Refuse a `jti` seen before, until the token expires. Default false. */
  replayCache?: boolean;
  /** Bound of the replay cache. Default 100 000. */
  replayCacheMaxEntries?: number;
  /** Claim holding roles (array or space-separated string); dots walk into objects ("realm_access.roles"). */
  rolesClaim?: string;
  /**
   * Claim holding the plugin name this JWT proves at handshake (dots walk into objects, e.g.
   * "plugboard.plugin"). Unset: JWTs prove no plugin name.
   */
  pluginNameClaim?: string;
  /** Minimum time between JWKS refetches triggered by an unknown kid. Default 30 000 ms. */
  cooldownMs?: number;
  /** JWKS cache lifetime. Default 600 000 ms. */
  cacheMaxAgeMs?: number;
  /** JWKS fetch timeout. Default 5 000 ms. */
  timeoutMs?: number;
  /** Largest accepted token. Default 8 192 bytes. */
  maxTokenBytes?: number;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "[::1]", "localhost"]);
const OWN_TOKEN_PREFIXES = Object.values(TOKEN_PREFIX);

function unauthenticated(message: string): ConnectError {
  return new ConnectError(`JWT: ${message}`, Code.Unauthenticated);
}

function nonEmptyStrings(value: string | string[], field: string): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0 || list.some((v) => typeof v !== "string" || v === "")) {
    throw new TypeError(`jwt: ${field} must be a non-empty string or array of non-empty strings`);
  }
  return list;
}

function positiveMs(value: number | undefined, fallback: number, field: string, min = 0): number {
  const ms = value ?? fallback;
  if (!Number.isFinite(ms) || ms < min) throw new TypeError(`jwt: ${field} must be a number ≥ ${min}`);
  return ms;
}

interface ResolvedOptions {
  jwksUrl: URL;
  issuer: string[];
  audience: string[];
  algorithms: string[];
  clockToleranceSec: number;
  requireJti: boolean;
  replayCache: boolean;
  replayCacheMaxEntries: number;
  rolesClaim: string[] | undefined;
  pluginNameClaim: string[] | undefined;
  cooldownMs: number;
  cacheMaxAgeMs: number;
  timeoutMs: number;
  maxTokenBytes: number;
}

function resolveOptions(opts: JwtAuthenticatorOptions): ResolvedOptions {
  let jwksUrl: URL;
  try {
    jwksUrl = new URL(opts.jwksUrl);
  } catch {
    throw new TypeError("jwt: jwksUrl must be an absolute URL");
  }
  if (jwksUrl.protocol !== "https:" && !(jwksUrl.protocol === "http:" && LOOPBACK_HOSTS.has(jwksUrl.hostname))) {
    throw new TypeError("jwt: jwksUrl must use https (plain http is allowed only on loopback)");
  }
  const algorithms = opts.algorithms ?? DEFAULT_JWT_ALGORITHMS;
  if (algorithms.length === 0) throw new TypeError("jwt: algorithms must not be empty");
  for (const alg of algorithms) {
    if (!(JWT_ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new TypeError(`jwt: algorithms entry "${alg}" is not an allowed asymmetric algorithm (${JWT_ASYMMETRIC_ALGORITHMS.join(", ")})`);
    }
  }
  const clockToleranceSec = opts.clockToleranceSec ?? 30;
  if (!Number.isFinite(clockToleranceSec) || clockToleranceSec < 0 || clockToleranceSec > 60) {
    throw new TypeError("jwt: clockToleranceSec must be between 0 and 60");
  }
  if (opts.rolesClaim !== undefined && (typeof opts.rolesClaim !== "string" || opts.rolesClaim === "")) {
    throw new TypeError("jwt: rolesClaim must be a non-empty string");
  }
  if (opts.pluginNameClaim !== undefined && (typeof opts.pluginNameClaim !== "string" || opts.pluginNameClaim === "")) {
    throw new TypeError("jwt: pluginNameClaim must be a non-empty string");
  }
  const replayCache = opts.replayCache === true;
  return {
    jwksUrl,
    issuer: nonEmptyStrings(opts.issuer, "issuer"),
    audience: nonEmptyStrings(opts.audience, "audience"),
    algorithms: [...algorithms],
    clockToleranceSec,
    requireJti: opts.requireJti === true || replayCache,
    replayCache,
    replayCacheMaxEntries: positiveMs(opts.replayCacheMaxEntries, 100_000, "replayCacheMaxEntries", 1),
    rolesClaim: opts.rolesClaim?.split("."),
    pluginNameClaim: opts.pluginNameClaim?.split("."),
    cooldownMs: positiveMs(opts.cooldownMs, 30_000, "cooldownMs"),
    cacheMaxAgeMs: positiveMs(opts.cacheMaxAgeMs, 600_000, "cacheMaxAgeMs"),
    timeoutMs: positiveMs(opts.timeoutMs, 5_000, "timeoutMs", 1),
    maxTokenBytes: positiveMs(opts.maxTokenBytes, 8_192, "maxTokenBytes", 1),
  };
}

/** The bearer value when it looks like a JWT; undefined for anything else (our opaque tokens included). */
export function extractBearerJwt(headers: Headers): string | undefined {
  const token = bearerToken(headers);
  if (!token) return undefined;
  if (OWN_TOKEN_PREFIXES.some((prefix) => token.startsWith(prefix))) return undefined;
  return JWT_SHAPE.test(token) ? token : undefined;
}

function readClaim(payload: JWTPayload, path: string[]): unknown {
  let value: unknown = payload;
  for (const key of path) {
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function readRoles(payload: JWTPayload, path: string[] | undefined): string[] {
  if (path === undefined) return [];
  const value = readClaim(payload, path);
  if (typeof value === "string") return value.split(" ").filter((role) => role !== "");
  if (Array.isArray(value)) return value.filter((role): role is string => typeof role === "string" && role !== "");
  return [];
}

/** Maps jose failures to Connect errors without echoing the token or claim values. */
function toConnectError(err: unknown, errors: Jose["errors"]): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof errors.JWTExpired) return unauthenticated("token has expired");
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "nbf") return unauthenticated("token is not yet valid (nbf)");
    return unauthenticated(`token claim "${err.claim}" is ${err.reason === "missing" ? "missing" : "not accepted"}`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return unauthenticated("token algorithm is not allowed");
  if (err instanceof errors.JOSENotSupported) return unauthenticated("token algorithm or key type is not supported");
  if (err instanceof errors.JWKSNoMatchingKey) return unauthenticated("no key in the issuer's JWKS matches the token");
  if (err instanceof errors.JWKSMultipleMatchingKeys) return unauthenticated("several JWKS keys match the token");
  if (err instanceof errors.JWSSignatureVerificationFailed) return unauthenticated("token signature is invalid");
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return unauthenticated("token is malformed");
  // Timeouts, bad JWKS responses and network errors: the issuer is unreachable, not the caller wrong.
  return new ConnectError("JWT: the issuer's JWKS could not be fetched", Code.Unavailable);
}

export function createJwtAuthenticator(opts: JwtAuthenticatorOptions): Authenticator {
  const o = resolveOptions(opts);
  let jwks: ReturnType<Jose["createRemoteJWKSet"]> | undefined;
  const replay: ReplayCache | undefined = o.replayCache ? createReplayCache({ maxEntries: o.replayCacheMaxEntries }) : undefined;

  return async (source) => {
    const token = extractBearerJwt(source.headers);
    if (token === undefined) return undefined;
    if (Buffer.byteLength(token) > o.maxTokenBytes) throw unauthenticated("token is too large");

    const { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify } = await loadJose();
    jwks ??= createRemoteJWKSet(o.jwksUrl, {
      cooldownDuration: o.cooldownMs,
      cacheMaxAge: o.cacheMaxAgeMs,
      timeoutDuration: o.timeoutMs,
    });

    // Refuse a disallowed alg before any JWKS fetch, so garbage cannot make us fetch.
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw unauthenticated("token header is malformed");
    }
    if (typeof alg !== "string" || !o.algorithms.includes(alg)) throw unauthenticated("token algorithm is not allowed");

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        issuer: o.issuer,
        audience: o.audience,
        algorithms: o.algorithms,
        clockTolerance: o.clockToleranceSec,
        requiredClaims: ["iss", "aud", "exp", "sub", ...(o.requireJti ? ["jti"] : [])],
      }));
    } catch (err) {
      throw toConnectError(err, errors);
    }
    if (typeof payload.sub !== "string" || payload.sub === "") throw unauthenticated('token claim "sub" is missing');
    if (o.requireJti && (typeof payload.jti !== "string" || payload.jti === "")) {
      throw unauthenticated('token claim "jti" is missing');
    }

    if (replay !== undefined) {
      const expiresAtMs = (payload.exp! + o.clockToleranceSec) * 1000;
      const verdict = replay.claim(`${payload.iss}\u0000${payload.jti}`, expiresAtMs);
      if (verdict === "replayed") throw unauthenticated("token has already been used (jti replay)");
      if (verdict === "full") throw new ConnectError("JWT: replay cache is full, try again later", Code.Unavailable);
    }

    const pluginName = o.pluginNameClaim && readClaim(payload, o.pluginNameClaim);
    const identity: Identity = {
      kind: "external",
      subject: `jwt:${payload.iss}#${payload.sub}`,
      method: "jwt",
      roles: readRoles(payload, o.rolesClaim),
      ...(typeof pluginName === "string" && pluginName !== "" ? { provesPluginName: pluginName } : {}),
      expiresAt: (payload.exp! + o.clockToleranceSec) * 1000,
    };
    return identity;
  };
}
