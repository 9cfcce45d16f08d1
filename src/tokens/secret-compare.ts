import * as crypto from "node:crypto";
import { createHash, timingSafeEqual } from "node:crypto";

/** One-shot hashing (Node ≥ 20.12) costs a fraction of a Hash object; the handshake compares on every call. */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: "buffer") => Buffer }).hash;
const sha256 = (value: string): Buffer =>
  oneShotHash !== undefined ? oneShotHash("sha256", value, "buffer") : createHash("sha256").update(value).digest();

/**
 * Constant-time equality of two secrets of any length: both sides are hashed to
 * equal-length digests first, so neither content nor length leaks through timing.
 */
export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

/** secretsEqual against one fixed secret, whose digest is taken once (the host's own cookie). */
export function secretMatcher(secret: string): (presented: string) => boolean {
  const digest = sha256(secret);
  return (presented) => timingSafeEqual(sha256(presented), digest);
}
