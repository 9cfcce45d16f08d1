import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { bearerToken } from "../identity/bearer.js";
import type { Authenticator, Identity } from "../identity/identity.js";
import type { HostPolicy } from "../policy/host-policy.js";

/** Prefix of the host's operator credential (never a runtime or grant token). */
export const ADMIN_TOKEN_PREFIX = "pbadm_";
/** The subject audit records show for calls made with the admin credential. */
export const ADMIN_CREDENTIAL_SUBJECT = "plugboard:admin-credential";

export interface AdminCredential {
  /** The bearer value; written once to the credentials file, never logged. */
  readonly token: string;
  /** Recognises `authorization: Bearer pbadm_…`; a wrong one is refused, not passed over. */
  readonly authenticator: Authenticator;
  /** True only for identities this authenticator produced (an object check: no claim can forge it). */
  owns(identity: Identity | undefined): boolean;
}

/** A random per-host operator credential (256 bits), kept in memory as a SHA-256 digest. */
export function createAdminCredential(random: (n: number) => Buffer = randomBytes): AdminCredential {
  const token = ADMIN_TOKEN_PREFIX + random(32).toString("base64url");
  const digest = createHash("sha256").update(token).digest();
  const issued = new WeakSet<Identity>();
  return {
    token,
    async authenticator(source) {
      const presented = bearerToken(source.headers);
      if (presented === undefined || !presented.startsWith(ADMIN_TOKEN_PREFIX)) return undefined;
      if (!timingSafeEqual(createHash("sha256").update(presented).digest(), digest))
        throw new ConnectError("admin credential is not this host's", Code.Unauthenticated);
      const identity: Identity = { kind: "external", subject: ADMIN_CREDENTIAL_SUBJECT, method: "token", roles: ["admin"] };
      issued.add(identity);
      return identity;
    },
    owns: (identity) => identity !== undefined && issued.has(identity),
  };
}

/** The host policy with the admin credential counted as an admin, whatever else decides. */
export function withAdminCredential(policy: HostPolicy, credential: AdminCredential | undefined): HostPolicy {
  if (!credential) return policy;
  const base = policy.isAdmin;
  return { ...policy, isAdmin: (identity) => credential.owns(identity) || (base ? base(identity) : identity.roles.includes("admin")) };
}
