/**
 * Bytes split at arbitrary points, as the network may deliver them: `cuts` (any naturals, taken modulo the
 * length + 1, so property tests can draw them freely) become chunk boundaries. Repeated or edge points give
 * empty chunks (a read may deliver nothing).
 */
export function splitAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = cuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(at, Math.max(at, p)));
    at = Math.max(at, p);
  }
  return out;
}
