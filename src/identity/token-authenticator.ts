import { Code, ConnectError } from "@connectrpc/connect";
import { TOKEN_PREFIX } from "../protocol/constants.js";
import type { Store } from "../store/types.js";
import type { TokenService } from "../tokens/tokens.js";
import { bearerToken } from "./bearer.js";
import type { Authenticator } from "./identity.js";
import { provenName } from "./name-proof.js";

export interface TokenAuthenticatorOptions {
  tokens: TokenService;
  store: Store;
  /** Roles for a runtime, e.g. from RBAC bindings on the plugin name. */
  rolesFor?: (pluginName: string, subject: string) => readonly string[];
}

/** Runtime tokens (`authorization: Bearer pbrt_…`) issued by the handshake. */
export function createTokenAuthenticator(options: TokenAuthenticatorOptions): Authenticator {
  const { tokens, store } = options;
  return async (source) => {
    const token = bearerToken(source.headers);
    if (token === undefined || !token.startsWith(TOKEN_PREFIX.runtime)) return undefined;
    const record = await tokens.verify(token, "runtime");
    const runtime = record && (await store.getRuntime(record.runtimeId));
    if (!record || !runtime) throw new ConnectError("runtime token is invalid, expired or revoked", Code.Unauthenticated);
    const subject = `runtime:${runtime.runtimeId}`;
    // Roles keyed on a name go only to a runtime that proved it.
    const name = provenName(runtime);
    return {
      kind: "runtime",
      subject,
      method: "token",
      runtimeId: runtime.runtimeId,
      pluginName: runtime.pluginName,
      nameProof: runtime.nameProof ?? "unproven",
      roles: name === undefined ? [] : (options.rolesFor?.(name, runtime.boundSubject ?? subject) ?? []),
      credentialId: record.id,
      ...(runtime.boundSubject === undefined ? {} : { boundSubject: runtime.boundSubject }),
      ...(runtime.boundMethod === undefined ? {} : { boundMethod: runtime.boundMethod }),
    };
  };
}
