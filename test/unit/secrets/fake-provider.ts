import { Code } from "@connectrpc/connect";
import { SecretError, resolveMany, type SecretProvider, type SecretValue } from "../../../src/secrets/index.js";

/** An in-memory backend that counts calls and can be made to fail or stall. */
export interface CountingProvider extends SecretProvider {
  values: Map<string, string>;
  calls: Map<string, number>;
  totalCalls(): number;
  /** When set, every get fails with this code. */
  failWith: Code | undefined;
  /** When set, gets wait for this promise before answering. */
  gate: Promise<void> | undefined;
}

export function createCountingProvider(initial: Record<string, string> = {}): CountingProvider {
  const provider: CountingProvider = {
    kind: "counting",
    values: new Map(Object.entries(initial)),
    calls: new Map(),
    failWith: undefined,
    gate: undefined,
    totalCalls: () => [...provider.calls.values()].reduce((a, b) => a + b, 0),
    async get(name, opts = {}): Promise<SecretValue> {
      provider.calls.set(name, (provider.calls.get(name) ?? 0) + 1);
      if (provider.gate) await provider.gate;
      if (provider.failWith !== undefined) throw new SecretError(`secret "${name}": counting backend failed`, provider.failWith, name);
      const value = provider.values.get(name);
      if (value === undefined) throw new SecretError(`secret "${name}": not found`, Code.NotFound, name);
      return { name, version: opts.version ?? "", value: new TextEncoder().encode(value) };
    },
    async list() {
      return [...provider.values.keys()];
    },
    getMany: (needs) => resolveMany(provider.get, needs),
    async health() {
      return provider.failWith === undefined ? { ok: true } : { ok: false, detail: "failing" };
    },
  };
  return provider;
}
