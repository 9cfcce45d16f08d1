export type { GetSecretOptions, SecretHealth, SecretNeed, SecretProvider, SecretValue } from "./types.js";
export { SecretError, isTransient } from "./errors.js";
export { MAX_SECRETS_PER_CALL, resolveMany } from "./many.js";
export { createEnvSecretProvider, envKeyOf, envNameOf, ENV_SECRET_NAME_RULE, isSecretEnvKey, DEFAULT_ENV_PREFIX, type EnvProviderOptions } from "./env.js";
export { createFileSecretProvider, type FileProviderOptions } from "./file.js";
// Vault and AWS Secrets Manager: `plugboard/secrets/vault`, `plugboard/secrets/aws` (the AWS SDK is an optional peer).
export type { AwsProviderSettings } from "./aws-settings.js";
export { createChainSecretProvider } from "./chain.js";
export { createSecretCache, type SecretCache, type SecretCacheOptions, type SecretCacheStats } from "./cache.js";
export { createSecretProvider, type SecretProviderConfig } from "./config.js";
export { createSecretAdmission, refuseRequiredSecrets, type SecretAdmission } from "./admission.js";
export { createSecretsService, type SecretPolicy, type SecretsAuditEvent, type SecretsServiceOptions } from "./service.js";
export { DEFAULT_SECRET_WATCH, type SecretWatchOptions } from "./watch.js";
