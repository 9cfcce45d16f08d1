import type { Logger } from "../log/index.js";
import type { AwsProviderSettings } from "./aws-settings.js";
import { createSecretCache, type SecretCacheOptions } from "./cache.js";
import { createChainSecretProvider } from "./chain.js";
import { createEnvSecretProvider, type EnvProviderOptions } from "./env.js";
import { createFileSecretProvider, type FileProviderOptions } from "./file.js";
import { createLazySecretProvider, importWithOptionalPeer } from "./lazy.js";
import type { SecretProvider } from "./types.js";
import { createVaultSecretProvider, type VaultProviderOptions } from "./vault.js";

/** A provider described as data (CLI config file, host options). */
export type SecretProviderConfig = (
  | ({ kind: "env" } & EnvProviderOptions)
  | ({ kind: "file" } & FileProviderOptions)
  | ({ kind: "vault" } & VaultProviderOptions)
  | ({ kind: "aws" } & AwsProviderSettings)
  | { kind: "chain"; providers: SecretProviderConfig[] }
) & {
  /** Wrap in the cache (default: on for vault and aws, off otherwise; `false` disables). */
  cache?: SecretCacheOptions | boolean;
};

/** Builds a provider from its description; throws TypeError on a bad config. */
export function createSecretProvider(config: SecretProviderConfig, deps: { logger?: Logger } = {}): SecretProvider {
  const provider = build(config, deps);
  const remote = config.kind === "vault" || config.kind === "aws";
  const cache = config.cache ?? remote;
  if (cache === false) return provider;
  return createSecretCache(provider, {
    ...(cache === true ? {} : cache),
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
}

function build(config: SecretProviderConfig, deps: { logger?: Logger }): SecretProvider {
  if (!config || typeof config !== "object") throw new TypeError("secret provider config must be an object");
  switch (config.kind) {
    case "env":
      return createEnvSecretProvider(config);
    case "file":
      return createFileSecretProvider(config);
    case "vault":
      return createVaultSecretProvider({ ...config, ...(deps.logger ? { logger: deps.logger } : {}) });
    case "aws": {
      if (!config.region) throw new TypeError("aws secret provider needs a region");
      // The AWS SDK is an optional peer dependency, loaded only when this provider is first used.
      return createLazySecretProvider("aws", async () => {
        const aws = await importWithOptionalPeer(() => import("./aws.js"), "@aws-sdk/client-secrets-manager", "the aws secret provider");
        return aws.createAwsSecretProvider(config);
      });
    }
    case "chain":
      if (!Array.isArray(config.providers)) throw new TypeError("chain secret provider needs providers");
      // Members are not cached on their own: cache the chain as a whole.
      return createChainSecretProvider(config.providers.map((member) => build(member, deps)));
    default:
      throw new TypeError(`unknown secret provider kind ${JSON.stringify((config as { kind?: unknown }).kind)}`);
  }
}
