import { invalid } from "../validation/fields.js";
import { metadataWireBytes } from "../paging/wire-size.js";

/** Encoded bytes of a registration's metadata (keys, values and framing, JSON escapes counted). */
export const registrationMetadataBytes = metadataWireBytes;

/** Refuses metadata whose total encoded size passes limits.registrationMetadataBytes (per-entry limits apply too). */
export function validateMetadataTotal(field: string, metadata: Record<string, string>, maxBytes: number): void {
  if (registrationMetadataBytes(metadata) > maxBytes)
    throw invalid(field, `more than ${maxBytes} bytes in total (limits.registrationMetadataBytes)`);
}
