import { randomFillSync } from "node:crypto";
import type { RandomSource } from "./tokens.js";

/** Draws at most this large come from the pool; larger ones are filled on their own. */
const POOL_BYTES = 4096;

/**
 * A RandomSource of cryptographically random bytes taken from a pooled buffer that randomFillSync
 * refills: one call into OpenSSL per 4 KiB instead of one per draw (a handshake draws several ids,
 * keys and tokens; node's own randomUUID pools the same way). Every pooled byte is handed out once,
 * as a copy, and wiped from the pool when taken, so nothing drawn lingers there or is seen twice.
 */
export function createRandomPool(poolBytes = POOL_BYTES, fill: (buffer: Buffer) => void = randomFillSync): RandomSource {
  const pool = Buffer.alloc(poolBytes);
  let offset = poolBytes;
  return (size) => {
    if (size > poolBytes / 8) {
      const bytes = Buffer.alloc(size);
      fill(bytes);
      return bytes;
    }
    if (offset + size > poolBytes) {
      fill(pool);
      offset = 0;
    }
    const bytes = Buffer.from(pool.subarray(offset, offset + size));
    pool.fill(0, offset, offset + size);
    offset += size;
    return bytes;
  };
}

/** The host's default random source. */
export const pooledRandomBytes: RandomSource = createRandomPool();
