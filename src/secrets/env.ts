import { secretNotFound } from "./errors.js";
import { checkName, encodeValue } from "./fields.js";
import { resolveMany } from "./many.js";
import type { GetSecretOptions, SecretProvider, SecretValue } from "./types.js";

export const DEFAULT_ENV_PREFIX = "PB_SECRET_";

export interface EnvProviderOptions {
  /** Prepended to every mapped name (default `PB_SECRET_`). */
  prefix?: string;
  /** The variables to read; default `process.env`, read at call time so changes are seen. */
  env?: Record<string, string | undefined>;
}

/** What the env provider accepts, for error messages and docs. */
export const ENV_SECRET_NAME_RULE =
  "env secret names are '/'-separated segments of lower-case letters and digits, with single '_' inside a segment";

const SEGMENT = /^[a-z0-9]+(?:_[a-z0-9]+)*$/;
const KEY = /^[A-Z0-9]+(?:_[A-Z0-9]+)*(?:__[A-Z0-9]+(?:_[A-Z0-9]+)*)*$/;

/**
 * `openai/api_key` → `OPENAI__API_KEY`: segments upper-cased, `/` → `__`. One-to-one: only names in
 * the form `envNameOf` gives back have a variable, so no two names share one (name-based policy
 * depends on it). Undefined for every other name.
 */
export function envKeyOf(name: string): string | undefined {
  const segments = name.split("/");
  if (!segments.every((segment) => SEGMENT.test(segment))) return undefined;
  return segments.map((segment) => segment.toUpperCase()).join("__");
}

/** The inverse of envKeyOf: the name a variable (without prefix) holds, or undefined if none. */
export function envNameOf(key: string): string | undefined {
  return KEY.test(key) ? key.toLowerCase().split("__").join("/") : undefined;
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
    const key = envKeyOf(name);
    // NotFound, not InvalidArgument: a chain goes on to a provider that can hold such a name.
    if (key === undefined) throw secretNotFound(name, `no variable can hold it (${ENV_SECRET_NAME_RULE})`);
    if (opts.version) throw secretNotFound(name, `version "${opts.version}" not available (env has no versions)`);
    const value = env()[prefix + key];
    if (value === undefined) throw secretNotFound(name);
    return { name, version: "", value: encodeValue(value) };
  };

  return {
    kind: "env",
    get,
    locate: (name) => {
      const key = envKeyOf(name);
      return key === undefined ? `no environment variable (${ENV_SECRET_NAME_RULE})` : `environment variable ${prefix}${key}`;
    },
    async list() {
      return Object.keys(env())
        .filter((key) => key.startsWith(prefix))
        .flatMap((key) => envNameOf(key.slice(prefix.length)) ?? [])
        .sort();
    },
    getMany: (needs) => resolveMany(get, needs),
    async health() {
      return { ok: true };
    },
  };
}
