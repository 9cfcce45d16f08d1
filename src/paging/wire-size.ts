import type { RegistrationRecord } from "../store/types.js";

/** Characters whose encoding grows in JSON: control characters (\u00XX), quote and backslash, surrogates (\uXXXX). */
const GROWS = /[\u0000-\u001f"\\\ud800-\udfff]/g;

/**
 * Bytes a string takes on the wire in the larger of the binary and the JSON encodings (UTF-8 plus
 * JSON escapes), so a budget computed from it holds whichever codec a client picked.
 */
export function wireBytes(value: string): number {
  let extra = 0;
  for (const [c] of value.matchAll(GROWS)) extra += c <= "\u001f" ? 5 : c === '"' || c === "\\" ? 1 : 3;
  return Buffer.byteLength(value, "utf8") + extra;
}

/** Upper bound of a field's framing: binary tag and length, or a JSON member name with quotes, colon and comma. */
export const FIELD_OVERHEAD = 24;
/** Upper bound of a map entry's framing beyond its key and value. */
export const ENTRY_OVERHEAD = 16;

export function metadataWireBytes(metadata: Record<string, string>): number {
  let total = 0;
  for (const [key, value] of Object.entries(metadata)) total += wireBytes(key) + wireBytes(value) + ENTRY_OVERHEAD;
  return total;
}

/** Upper bound of a plugboard.v1.Registration's encoded size, in either codec. */
export function registrationWireBytes(r: RegistrationRecord): number {
  const strings = [r.registrationId, r.serviceType, r.version, r.runtimeId, r.pluginName, r.endpoint];
  return strings.reduce((sum, s) => sum + wireBytes(s) + FIELD_OVERHEAD, 0) + metadataWireBytes(r.metadata) + 4 * FIELD_OVERHEAD;
}
