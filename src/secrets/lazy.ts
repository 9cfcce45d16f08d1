/**
 * Providers whose backend is an optional package (the AWS SDK) are loaded on first use, so that
 * importing plugboard, or configuring another provider, never loads or requires that package.
 */
import { Code } from "@connectrpc/connect";
import { SecretError } from "./errors.js";
import type { SecretProvider } from "./types.js";

export function createLazySecretProvider(kind: string, load: () => Promise<SecretProvider>): SecretProvider {
  let loading: Promise<SecretProvider> | undefined;
  const provider = () => (loading ??= load());
  return {
    kind,
    get: async (name, options) => (await provider()).get(name, options),
    list: async () => (await provider()).list(),
    getMany: async (needs) => (await provider()).getMany(needs),
    async health() {
      try {
        return await (await provider()).health();
      } catch (error) {
        return { ok: false, detail: error instanceof SecretError ? error.rawMessage : `${kind} provider could not be loaded` };
      }
    },
    async close() {
      const loaded = await loading?.catch(() => undefined);
      await loaded?.close?.();
    },
  };
}

/** import() of a module that needs an optional peer package; a missing package becomes a clear FailedPrecondition. */
export async function importWithOptionalPeer<T>(load: () => Promise<T>, peer: string, what: string): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if ((code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && String((error as Error).message).includes(peer)) {
      throw new SecretError(`${what} needs the optional package ${peer}: npm install ${peer}`, Code.FailedPrecondition);
    }
    throw error;
  }
}
