import { policySubject, type Identity } from "../identity/identity.js";
import type { Rbac } from "./rbac.js";

/**
 * RBAC's judgement of one secret read (`secret:<name>`), for the secrets service to apply to every
 * name it would return: an empty `names` list is expanded before this runs, so it cannot skip it.
 */
export function secretReadAuthorizer(rbac: Rbac): (caller: Identity, secretName: string) => boolean {
  return (caller, secretName) => rbac.check(policySubject(caller), `secret:${secretName}`);
}
