import { createContextKey } from "@connectrpc/connect";
import { provenName, type NameProofMethod } from "./name-proof.js";

/** How a caller proved who it is; "host" is the host application calling in-process (never from outside). */
export type AuthMethod = "token" | "mtls" | "jwt" | "host";

/**
 * Who is calling. Plugins that handshook are `runtime` identities; operators and
 * host applications authenticated by certificate or JWT without a runtime are `external`.
 */
export interface Identity {
  readonly kind: "runtime" | "external";
  /** Stable principal: `runtime:<id>`, a SPIFFE ID, a certificate CN or a JWT subject. */
  readonly subject: string;
  readonly method: AuthMethod;
  readonly runtimeId?: string;
  /** Runtime identities: the plugin name; read it for authorisation only through `provenName`. */
  readonly pluginName?: string;
  /** Runtime identities: how the name was proven at handshake. */
  readonly nameProof?: NameProofMethod;
  /** External identities: the plugin name this certificate or JWT proves (SPIFFE mapping, JWT claim). */
  readonly provesPluginName?: string;
  /** Roles for RBAC; empty when RBAC is not configured. */
  readonly roles: readonly string[];
  /** Runtime identities: public id of the token used (refresh retires exactly that one). */
  readonly credentialId?: string;
  /** Runtime identities: the certificate/JWT subject the runtime handshook with, if any. */
  readonly boundSubject?: string;
  /** How boundSubject was proven; only a certificate (`mtls`) must be presented again on every call. */
  readonly boundMethod?: AuthMethod;
  /**
   * When the presented certificate or JWT stops being valid (ms since epoch); streams it opened end
   * then. Runtime tokens set none: their streams last as long as the runtime (refresh extends it).
   */
  readonly expiresAt?: number;
}

/** Handlers read the caller from here; the identity interceptor sets it. */
export const identityKey = createContextKey<Identity | undefined>(undefined, {
  description: "plugboard caller identity",
});

/** What an authenticator sees of a request: headers and, over TLS, the verified peer certificate. */
export interface CredentialSource {
  readonly headers: Headers;
  /** Present only when the TLS layer verified a client certificate against the configured CA. */
  readonly peerCertificate?: import("node:crypto").X509Certificate;
}

/**
 * One way of proving identity. Returns undefined when the request carries no
 * credential of this kind (the next authenticator is tried), the identity when
 * it verifies, and throws ConnectError(Unauthenticated) when a credential of
 * this kind is present but bad: a bad credential is never passed over.
 */
export type Authenticator = (source: CredentialSource) => Promise<Identity | undefined>;

/**
 * Who RBAC judges, on host RPCs and routed calls alike: a runtime bound at handshake to a
 * certificate or JWT is judged by that proven subject, not by its runtime id, and matches
 * `pluginName` bindings only with a proven name.
 */
export function policySubject(identity: Identity): { subject: string; pluginName?: string; roles: readonly string[] } {
  const pluginName = provenName(identity);
  return {
    subject: identity.boundSubject ?? identity.subject,
    ...(pluginName === undefined ? {} : { pluginName }),
    roles: identity.roles,
  };
}
