import { randomBytes } from "node:crypto";
import type { Store } from "../store/types.js";
import { drawRandom, randomId, tokenDigest, type RandomSource } from "../tokens/tokens.js";
import { validatePluginName } from "../validation/fields.js";

/** Kind prefix of enrolment tokens: recognisable in logs and secret scanners, never a bearer of anything else. */
export const ENROLMENT_TOKEN_PREFIX = "pbet_";

/** Defaults and bounds of an enrolment token; every one is documented in docs/security.md. */
export const ENROLMENT_DEFAULTS = {
  ttlMs: 10 * 60_000,
  maxTtlMs: 30 * 24 * 60 * 60_000,
  uses: 1,
  maxUses: 10_000,
} as const;

export interface EnrolmentTokenOptions {
  /** Lifetime; default 10 minutes, at most 30 days. */
  ttlMs?: number;
  /** Handshakes the token admits; default 1, at most 10 000 (replicas of one plugin may share one token). */
  uses?: number;
}

export interface IssuedEnrolmentToken {
  /** Shown once: the store keeps only its SHA-256 digest. */
  token: string;
  /** Public id, for revocation. */
  id: string;
  pluginName: string;
  expiresAt: number;
  uses: number;
}

/**
 * Name-bound bootstrap credentials for plugins started outside the host (another machine,
 * another language, a developer's shell), after SPIRE join tokens and Vault AppRole secret
 * IDs: random (256 bits), kind-prefixed, stored as a digest, with a lifetime and a use count,
 * revocable. A handshake presenting one proves the plugin name it was issued for.
 */
export interface Enrolments {
  issue(pluginName: string, options?: EnrolmentTokenOptions): Promise<IssuedEnrolmentToken>;
  /** The name a live token is bound to, without spending a use; undefined for anything else. */
  nameOf(token: string): Promise<string | undefined>;
  /** Spends one use; false when none was left (expired, revoked, used up concurrently). */
  spend(token: string): Promise<boolean>;
  revoke(id: string): Promise<boolean>;
}

function bounded(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max)
    throw new RangeError(`enrolment token ${name} must be an integer from ${min} to ${max}`);
  return value;
}

const looksLikeToken = (token: string) => token.startsWith(ENROLMENT_TOKEN_PREFIX) && token.length <= 128;

export function createEnrolments(deps: { store: Store; random?: RandomSource; now?: () => number; nameBytes: number }): Enrolments {
  const random = deps.random ?? randomBytes;
  const now = deps.now ?? Date.now;
  return {
    async issue(pluginName, options = {}) {
      validatePluginName("plugin_name", pluginName, deps.nameBytes);
      const ttlMs = bounded("ttlMs", options.ttlMs ?? ENROLMENT_DEFAULTS.ttlMs, 1, ENROLMENT_DEFAULTS.maxTtlMs);
      const uses = bounded("uses", options.uses ?? ENROLMENT_DEFAULTS.uses, 1, ENROLMENT_DEFAULTS.maxUses);
      const token = ENROLMENT_TOKEN_PREFIX + drawRandom(random, 32).toString("base64url");
      const id = randomId("en_", random);
      const expiresAt = now() + ttlMs;
      await deps.store.putEnrolment(tokenDigest(token), { id, pluginName, expiresAt, usesLeft: uses });
      return { token, id, pluginName, expiresAt, uses };
    },
    async nameOf(token) {
      if (!looksLikeToken(token)) return undefined;
      const record = await deps.store.getEnrolment(tokenDigest(token));
      return record && record.expiresAt > now() ? record.pluginName : undefined;
    },
    async spend(token) {
      return looksLikeToken(token) && deps.store.useEnrolment(tokenDigest(token));
    },
    revoke: (id) => deps.store.revokeEnrolment(id),
  };
}
