/**
 * A runtime's plugin name is something it proves at handshake, never something it claims.
 * This file is the one place that says what a name is worth: registration rights, secret
 * scopes, runtime roles, RBAC `pluginName` bindings and rate-limit keys all read a caller's
 * name through `provenName`.
 */

/** How a runtime proved its name (RuntimeInfo.name_proof on the wire). */
export type NameProofMethod = "launch_secret" | "mtls" | "jwt" | "enrolment" | "unproven";

/** What carries a name and how it was proven: a RuntimeRecord or a runtime Identity. */
export interface NamedCaller {
  readonly pluginName?: string | undefined;
  /** Missing on records written before names were proven: treated as unproven. */
  readonly nameProof?: NameProofMethod | undefined;
}

/**
 * The name to authorise with, or undefined when the name was not proven (an
 * `allowUnprovenNames` runtime, or no runtime at all). An unproven name is a label for
 * logs and listings; it earns no rights bound to that name.
 */
export function provenName(who: NamedCaller | undefined): string | undefined {
  if (who?.pluginName === undefined || who.nameProof === undefined || who.nameProof === "unproven") return undefined;
  return who.pluginName;
}

/**
 * The rate-limit key of a caller: its proven name (all replicas and re-handshakes of a plugin
 * share one budget), else its authenticated subject for external callers, else the peer
 * address (unproven runtimes cannot mint fresh budgets by handshaking again).
 */
export function rateLimitKey(
  who: NamedCaller & { readonly kind: "runtime" | "external"; readonly subject: string; readonly boundSubject?: string | undefined },
  peerAddress: string | undefined,
): string {
  const name = provenName(who);
  if (name !== undefined) return `name:${name}`;
  if (who.kind === "external") return `subject:${who.subject}`;
  if (who.boundSubject !== undefined) return `subject:${who.boundSubject}`;
  return `peer:${peerAddress ?? "unknown"}`;
}

/**
 * The default mapping from a certificate's SPIFFE ID to a plugin name:
 * `spiffe://<trust domain>/plugin/<name>` → `<name>`. Anything else names no plugin.
 */
export function pluginNameFromSpiffeId(subject: string): string | undefined {
  return spiffePluginNames("/plugin/")(subject);
}

/** A SPIFFE → plugin-name mapping for another path layout: `spiffe://<td><pathPrefix><name>`. */
export function spiffePluginNames(pathPrefix: string): (subject: string) => string | undefined {
  if (!pathPrefix.startsWith("/") || !pathPrefix.endsWith("/"))
    throw new TypeError("SPIFFE plugin path prefix must start and end with '/', e.g. /plugin/");
  return (subject) => {
    if (!subject.startsWith("spiffe://")) return undefined;
    const slash = subject.indexOf("/", "spiffe://".length);
    if (slash < 0) return undefined;
    const path = subject.slice(slash);
    if (!path.startsWith(pathPrefix)) return undefined;
    const name = path.slice(pathPrefix.length);
    return name !== "" && !name.includes("/") ? name : undefined;
  };
}
