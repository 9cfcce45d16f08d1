import type { IdentityResolver } from "../identity/compose.js";
import type { CredentialSource } from "../identity/identity.js";
import type { AuthResult } from "../metrics/host-metrics.js";

/** What kind of credential a request presented, told from its shape only (nothing is logged). */
export function credentialKind(source: CredentialSource): string {
  const auth = source.headers.get("authorization");
  if (auth?.startsWith("Bearer pb")) return "token";
  if (auth?.startsWith("Bearer ")) return "jwt";
  if (source.peerCertificate) return "mtls";
  return auth ? "other" : "none";
}

/** Wraps the host's resolver to count attempts by method and result; behaviour is unchanged. */
export function instrumentResolver(
  resolve: IdentityResolver,
  observe: (method: string, result: AuthResult) => void,
): IdentityResolver {
  return async (source) => {
    try {
      const identity = await resolve(source);
      observe(identity ? identity.method : "none", identity ? "success" : "absent");
      return identity;
    } catch (e) {
      observe(credentialKind(source), "failure");
      throw e;
    }
  };
}
