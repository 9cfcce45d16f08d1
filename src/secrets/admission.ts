import { Code, ConnectError } from "@connectrpc/connect";
import { SecretError } from "./errors.js";
import type { SecretNeed, SecretProvider } from "./types.js";

/** Checks a plugin's declared secrets when it is admitted; throws a ConnectError to refuse it. */
export type SecretAdmission = (pluginName: string, needs: readonly SecretNeed[]) => Promise<void>;

/**
 * Refuses a plugin whose required secrets the host's provider does not have, at handshake, so the
 * plugin does not report ready and then crash-loop on its first `secret()` call.
 *
 * - a required secret the provider answers NotFound → FailedPrecondition naming the secret and where
 *   the provider looked (`locate`), never a value;
 * - the provider failing to answer (outage, throttling, its own credentials refused) → Unavailable:
 *   absence is not proven, the plugin may try again;
 * - optional secrets are not checked.
 */
export function createSecretAdmission(provider: SecretProvider): SecretAdmission {
  const where = (name: string) => provider.locate?.(name) ?? `the ${provider.kind} secret provider`;
  return async (_pluginName, needs) => {
    const required = needs.filter((need) => !need.optional);
    const results = await Promise.allSettled(
      required.map((need) => provider.get(need.name, need.version ? { version: need.version } : {})),
    );
    const missing: string[] = [];
    let unavailable: string | undefined;
    for (const [i, result] of results.entries()) {
      const need = required[i]!;
      if (result.status === "fulfilled") {
        result.value.value.fill(0); // only its presence was needed
        continue;
      }
      const error = result.reason;
      const code = error instanceof ConnectError ? error.code : Code.Unknown;
      const version = need.version ? ` version "${need.version}"` : "";
      if (code === Code.NotFound) missing.push(`"${need.name}"${version} (looked in ${where(need.name)})`);
      else if (code === Code.InvalidArgument && error instanceof SecretError)
        throw new ConnectError(`secrets: ${error.rawMessage}`, Code.InvalidArgument);
      else unavailable ??= need.name;
    }
    if (missing.length > 0)
      throw new ConnectError(
        `required secret${missing.length > 1 ? "s" : ""} not available: ${missing.join("; ")}; ` +
          "provide it to the host or declare it optional",
        Code.FailedPrecondition,
      );
    if (unavailable !== undefined)
      throw new ConnectError(
        `secret provider (${provider.kind}) could not be asked for required secret "${unavailable}"; try again`,
        Code.Unavailable,
      );
  };
}

/** For a host that serves no secrets: a plugin that cannot run without one is refused at once. */
export const refuseRequiredSecrets: SecretAdmission = async (_pluginName, needs) => {
  const required = needs.filter((need) => !need.optional).map((need) => `"${need.name}"`);
  if (required.length > 0)
    throw new ConnectError(
      `required secret${required.length > 1 ? "s" : ""} ${required.join(", ")} not available: this host serves no secrets (configure a secret provider)`,
      Code.FailedPrecondition,
    );
};
