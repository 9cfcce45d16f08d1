/**
 * The size of a request's header list as HTTP/2 counts it for SETTINGS_MAX_HEADER_LIST_SIZE
 * (RFC 9113 §6.5.2): name + value bytes + 32 per field, pseudo-headers included. Node gives
 * header strings as latin1, one byte per character.
 */
export function headerListBytes(rawHeaders: readonly string[]): number {
  let bytes = 0;
  for (const field of rawHeaders) bytes += field.length;
  return bytes + 16 * rawHeaders.length; // 32 per name/value pair
}
