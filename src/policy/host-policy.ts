import type { Identity } from "../identity/identity.js";

/**
 * Host-application decisions beyond what plugins declare. Every hook is optional;
 * a missing hook allows. Declarations still apply: a plugin provides only what it
 * declared at handshake, calls only what it declared it requires (unless `mayCall`
 * says otherwise), requests only capabilities it declared.
 */
export interface HostPolicy {
  mayProvide?(pluginName: string, serviceType: string): boolean;
  /** Called for routed calls the caller did not declare as a requirement; default: refuse. */
  mayCallUndeclared?(caller: Identity, serviceType: string, method: string): boolean;
  mayRequestCapability?(pluginName: string, capabilityType: string): boolean;
  /** Whether the host app itself (`host.client`) may call a plugin method; default: allowed. */
  mayHostCall?(serviceType: string, method: string): boolean;
  /** Whether an identity is an operator (admin RPCs, revoking any runtime). Default: has the "admin" role. */
  isAdmin?(identity: Identity): boolean;
}

export function isAdmin(policy: HostPolicy, identity: Identity | undefined): boolean {
  if (!identity) return false;
  return policy.isAdmin ? policy.isAdmin(identity) : identity.roles.includes("admin");
}
