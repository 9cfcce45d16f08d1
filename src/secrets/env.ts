import { secretInvalidName, secretNotFound } from "./errors.js";
import { checkName, encodeValue } from "./fields.js";
import { resolveMany } from "./many.js";
import type { GetSecretOptions, SecretProvider, SecretValue } from "./types.js";

export const DEFAULT_ENV_PREFIX = "PB_SECRET_";

export interface EnvProviderOptions {
  /** Prepended to every normalised name (default `PB_SECRET_`). */
  prefix?: string;
  /** The variables to read; default `process.env`, read at call time so changes are seen. */
  env?: Record<string, string | undefined>;
}

/** `openai/api_key` → `OPENAI_API_KEY`: upper case, every run of non-alphanumerics becomes `_`. */
export function normaliseEnvKey(name: string): string {
  return name
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
}

/** Whether a variable holds a secret for this prefix; the launcher strips these from plugin environments. */
export const isSecretEnvKey = (key: string, prefix = DEFAULT_ENV_PREFIX): boolean => key.startsWith(prefix);

/** Secrets from environment variables. No versions: only "" (current) exists. */
export function createEnvSecretProvider(options: EnvProviderOptions = {}): SecretProvider {
  const prefix = options.prefix ?? DEFAULT_ENV_PREFIX;
  if (!/^[A-Za-z0-9_]*$/.test(prefix)) throw new TypeError("env secret prefix may hold only letters, digits and _");
  const env = () => options.env ?? process.env;

  const get = async (name: string, opts: GetSecretOptions = {}): Promise<SecretValue> => {
    checkName(name);
    const key = normaliseEnvKey(name);
    if (!key) throw secretInvalidName(name, "no letters or digits");
    if (opts.version) throw secretNotFound(name, `version "${opts.version}" not available (env has no versions)`);
    const value = env()[prefix + key];
    if (value === undefined) throw secretNotFound(name);
    return { name, version: "", value: encodeValue(value) };
  };

  return {
    kind: "env",
    get,
    locate: (name) => `environment variable ${prefix}${normaliseEnvKey(name)}`,
    async list() {
      return Object.keys(env())
        .filter((key) => key.startsWith(prefix) && key.length > prefix.length)
        .map((key) => key.slice(prefix.length).toLowerCase())
        .sort();
    },
    getMany: (needs) => resolveMany(get, needs),
    async health() {
      return { ok: true };
    },
  };
}
