import { Code, ConnectError } from "@connectrpc/connect";
import type { Authenticator, CredentialSource, Identity } from "./identity.js";

export type IdentityResolver = (source: CredentialSource) => Promise<Identity | undefined>;

/**
 * Runs every configured authenticator: a bad credential of any kind refuses the
 * request (it is never passed over to the next method). When a runtime token is
 * present it is the identity, and if the runtime was bound at handshake to a
 * certificate or JWT subject, that same subject must be proven again now: a token
 * replayed from another certificate is refused. Otherwise the first method that
 * authenticated wins. Returns undefined when the request carries no credential.
 */
export function composeAuthenticators(authenticators: readonly Authenticator[]): IdentityResolver {
  return async (source) => {
    const found: Identity[] = [];
    for (const authenticate of authenticators) {
      const identity = await authenticate(source);
      if (identity) found.push(identity);
    }
    const runtime = found.find((identity) => identity.kind === "runtime");
    // A certificate is presented on every connection anyway, so a token bound to one is re-proven each call.
    // A JWT-admitted runtime cannot send its JWT beside its token (one authorization header): its token,
    // issued to the JWT's holder, is the credential from the handshake on.
    if (runtime?.boundSubject !== undefined && runtime.boundMethod !== "jwt") {
      const proven = found.find((identity) => identity.kind === "external" && identity.subject === runtime.boundSubject);
      if (!proven)
        throw new ConnectError(
          "runtime token is bound to another client identity; present the credential it was issued to",
          Code.Unauthenticated,
        );
      // Roles the certificate earns hold for the runtime too (one subject, one set of rights), and the
      // runtime's streams end with the certificate that proved it.
      const roles = proven.roles.length > 0 ? [...new Set([...runtime.roles, ...proven.roles])] : runtime.roles;
      return { ...runtime, roles, ...(proven.expiresAt !== undefined ? { expiresAt: proven.expiresAt } : {}) };
    }
    return runtime ?? found[0];
  };
}

/** Like the resolver, but a missing credential is Unauthenticated. */
export async function requireIdentity(resolve: IdentityResolver, source: CredentialSource): Promise<Identity> {
  const identity = await resolve(source);
  if (!identity) throw new ConnectError("missing credential: send authorization: Bearer <runtime token>", Code.Unauthenticated);
  return identity;
}
