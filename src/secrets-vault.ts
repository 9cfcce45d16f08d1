/** `plugboard/secrets/vault`: HashiCorp Vault KV v2 over its HTTP API (no extra package). */
export {
  createVaultSecretProvider,
  type VaultProviderOptions,
  type VaultSecretProvider,
  type VaultVersionInfo,
} from "./secrets/vault.js";
