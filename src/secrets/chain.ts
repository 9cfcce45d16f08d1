import { Code } from "@connectrpc/connect";
import { SecretError, secretNotFound } from "./errors.js";
import { resolveMany } from "./many.js";
import type { GetSecretOptions, SecretProvider, SecretValue } from "./types.js";

/**
 * Tries providers in order. NotFound falls through to the next; any other
 * error stops the chain, so an outage of the first provider never silently
 * serves a different secret from a later one.
 */
export function createChainSecretProvider(providers: readonly SecretProvider[]): SecretProvider {
  if (providers.length === 0) throw new TypeError("chain secret provider needs at least one provider");

  const get = async (name: string, opts: GetSecretOptions = {}): Promise<SecretValue> => {
    for (const provider of providers) {
      try {
        return await provider.get(name, opts);
      } catch (error) {
        if (error instanceof SecretError && error.code === Code.NotFound) continue;
        throw error;
      }
    }
    throw secretNotFound(name, `not found in ${providers.map((p) => p.kind).join(", ")}`);
  };

  return {
    kind: `chain(${providers.map((p) => p.kind).join(",")})`,
    get,
    locate: (name) => providers.map((p) => p.locate?.(name) ?? `${p.kind} provider`).join(", then "),
    async list() {
      const all = await Promise.all(providers.map((p) => p.list()));
      return [...new Set(all.flat())].sort();
    },
    getMany: (needs) => resolveMany(get, needs),
    async health() {
      const results = await Promise.all(providers.map(async (p) => ({ kind: p.kind, ...(await p.health()) })));
      const failing = results.filter((r) => !r.ok);
      if (failing.length === 0) return { ok: true };
      return { ok: false, detail: failing.map((r) => `${r.kind}: ${r.detail ?? "unhealthy"}`).join("; ") };
    },
    async close() {
      await Promise.all(providers.map((p) => p.close?.()));
    },
  };
}
