import type { SecretNeed } from "../store/types.js";

export type { SecretNeed };

/** One resolved secret. `version` is provider-specific; "" when the backend has no versions. */
export interface SecretValue {
  name: string;
  version: string;
  value: Uint8Array;
}

export interface GetSecretOptions {
  /** Provider-specific version; empty or absent means current. */
  version?: string;
}

export interface SecretHealth {
  ok: boolean;
  /** Why not ok (never contains a secret value). */
  detail?: string;
}

/**
 * Where the host reads secrets from. Every failure is a SecretError (a ConnectError)
 * whose message names the secret but never carries its value.
 */
export interface SecretProvider {
  /** Which backend this is, for logs and health details ("env", "vault", ...). */
  readonly kind: string;
  get(name: string, options?: GetSecretOptions): Promise<SecretValue>;
  /** Names this provider can serve (best effort; may be partial for large backends). */
  list(): Promise<string[]>;
  /**
   * Resolves several needs at once: optional secrets that do not exist are
   * skipped, a missing required one fails with NotFound naming it.
   */
  getMany(needs: readonly SecretNeed[]): Promise<SecretValue[]>;
  health(): Promise<SecretHealth>;
  /**
   * Where this provider looks for `name` (an environment variable, a file path, a Vault path),
   * for messages such as a refused handshake. Never reads or shows a value. Optional.
   */
  locate?(name: string): string;
  /** Stops background work (token renewal, sockets). Optional. */
  close?(): Promise<void>;
}
