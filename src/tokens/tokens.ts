import * as crypto from "node:crypto";
import { createHash, randomBytes } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { TOKEN_PREFIX, type TokenKind } from "../protocol/constants.js";
import type { CredentialRecord, Store } from "../store/types.js";

/** 256 bits: far past the 128-bit floor for unguessable values. */
const TOKEN_BYTES = 32;
const ID_BYTES = 16;

export type RandomSource = (size: number) => Buffer;

/** SHA-256 (hex) of a token: the only form a token is ever stored in. */
/** One-shot hashing (Node ≥ 20.12) costs a third of a Hash object; digests are taken on every authenticated call. */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: "hex") => string }).hash;

export function tokenDigest(token: string): string {
  return oneShotHash !== undefined ? oneShotHash("sha256", token, "hex") : createHash("sha256").update(token).digest("hex");
}

/**
 * Draws random bytes; a failing random source becomes an Internal error for
 * the one request, never a crashed host.
 */
export function drawRandom(random: RandomSource, size: number): Buffer {
  try {
    const bytes = random(size);
    if (bytes.length !== size) throw new Error("short read");
    return bytes;
  } catch (cause) {
    throw new ConnectError("random source unavailable", Code.Internal, undefined, undefined, cause);
  }
}

/** A random public identifier with a readable prefix, e.g. `rt_…` (128 bits). */
export function randomId(prefix: string, random: RandomSource = randomBytes): string {
  return prefix + drawRandom(random, ID_BYTES).toString("base64url");
}

export interface IssuedToken {
  token: string;
  id: string;
  expiresAt: number;
}

export interface TokenServiceOptions {
  store: Store;
  random?: RandomSource;
  now?: () => number;
}

export interface TokenService {
  issue(kind: TokenKind, runtimeId: string, ttlMs: number, extra?: { id?: string; capability?: string }): Promise<IssuedToken>;
  /** The live record for a token of the given kind, or undefined (unknown, expired, revoked or other kind). */
  verify(token: string, kind: TokenKind): Promise<CredentialRecord | undefined>;
  /** The live record with this public id (token id or grant ID). */
  find(id: string): Promise<CredentialRecord | undefined>;
  revokeById(id: string): Promise<boolean>;
  /**
   * Consumes the live runtime token `oldId` of `runtimeId` and issues its successor, extending the
   * runtime, in one atomic store step: of concurrent refreshes of one token exactly one succeeds,
   * the others are Unauthenticated.
   */
  refresh(oldId: string, runtimeId: string, ttlMs: number): Promise<IssuedToken>;
}

export function createTokenService(options: TokenServiceOptions): TokenService {
  const { store } = options;
  const random = options.random ?? randomBytes;
  const now = options.now ?? Date.now;

  const mint = (kind: TokenKind, runtimeId: string, ttlMs: number, extra: { id?: string; capability?: string } = {}) => {
    const token = TOKEN_PREFIX[kind] + drawRandom(random, TOKEN_BYTES).toString("base64url");
    const id = extra.id ?? randomId(kind === "runtime" ? "tk_" : "gr_", random);
    const expiresAt = now() + ttlMs;
    const record: CredentialRecord = { kind, id, runtimeId, expiresAt };
    if (extra.capability !== undefined) record.capability = extra.capability;
    return { token, id, expiresAt, record };
  };

  return {
    async issue(kind, runtimeId, ttlMs, extra = {}) {
      const { token, id, expiresAt, record } = mint(kind, runtimeId, ttlMs, extra);
      await store.putCredential(tokenDigest(token), record);
      return { token, id, expiresAt };
    },
    async refresh(oldId, runtimeId, ttlMs) {
      const { token, id, expiresAt, record } = mint("runtime", runtimeId, ttlMs);
      if (!(await store.rotateCredential(oldId, tokenDigest(token), record, now()))) {
        throw new ConnectError("runtime token was already refreshed, revoked or has expired", Code.Unauthenticated);
      }
      return { token, id, expiresAt };
    },
    async verify(token, kind) {
      // The prefix check rejects the other kind before any lookup; the lookup is by
      // SHA-256 digest, so lookup timing reveals nothing about the token itself.
      if (!token.startsWith(TOKEN_PREFIX[kind]) || token.length > 128) return undefined;
      const record = await store.getCredential(tokenDigest(token));
      if (!record || record.kind !== kind || record.expiresAt <= now()) return undefined;
      return record;
    },
    async find(id) {
      return (await store.findCredentialById(id))?.record;
    },
    async revokeById(id) {
      const found = await store.findCredentialById(id);
      if (!found) return false;
      await store.deleteCredential(found.digest);
      return true;
    },
  };
}
