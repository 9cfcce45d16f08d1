import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Constant-time equality of two secrets of any length: both sides are hashed to
 * equal-length digests first, so neither content nor length leaks through timing.
 */
export function secretsEqual(a: string, b: string): boolean {
  const da = createHash("sha256").update(a).digest();
  const db = createHash("sha256").update(b).digest();
  return timingSafeEqual(da, db);
}
