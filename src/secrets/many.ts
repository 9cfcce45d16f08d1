import { Code } from "@connectrpc/connect";
import { SecretError } from "./errors.js";
import type { GetSecretOptions, SecretNeed, SecretValue } from "./types.js";

/** Limit on one getMany call, so a runaway declaration cannot fan out without bound. */
export const MAX_SECRETS_PER_CALL = 256;

/**
 * Shared getMany: fetches the needs in parallel; optional ones answering
 * NotFound are skipped, a required one answering NotFound fails naming it.
 * Other errors (outage, denial) fail the call for optional secrets too: an
 * outage is not absence.
 */
export async function resolveMany(
  get: (name: string, options?: GetSecretOptions) => Promise<SecretValue>,
  needs: readonly SecretNeed[],
): Promise<SecretValue[]> {
  if (needs.length > MAX_SECRETS_PER_CALL) {
    throw new SecretError(`too many secrets in one call (${needs.length} > ${MAX_SECRETS_PER_CALL})`, Code.InvalidArgument);
  }
  const results = await Promise.allSettled(
    needs.map((need) => get(need.name, need.version ? { version: need.version } : {})),
  );
  const found: SecretValue[] = [];
  for (const [i, result] of results.entries()) {
    const need = needs[i]!;
    if (result.status === "fulfilled") {
      found.push(result.value);
      continue;
    }
    const error = result.reason;
    if (error instanceof SecretError && error.code === Code.NotFound) {
      if (need.optional) continue;
      throw new SecretError(`required secret "${need.name}" is missing`, Code.NotFound, need.name);
    }
    throw error;
  }
  return found;
}
