import type { IdentityResolver } from "../identity/compose.js";
import { isAdmin, type HostPolicy } from "../policy/host-policy.js";
import type { AdminCheck } from "./access.js";

/** Judges an ops request's credential like an Admin RPC's: the host's identify, then its isAdmin. */
export function adminCheckOf(identify: IdentityResolver, policy: HostPolicy): AdminCheck {
  return async (headers) => {
    let identity;
    try {
      identity = await identify({ headers });
    } catch {
      return "unauthenticated"; // a bad credential: the reason stays in the auth metrics, not the response
    }
    if (!identity) return "unauthenticated";
    return isAdmin(policy, identity) ? "admin" : "forbidden";
  };
}
