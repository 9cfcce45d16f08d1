import type { Rbac } from "./rbac.js";

export interface BoundNameSources {
  /** Names the host reserves explicitly (host option `reservedNames`). */
  reservedNames?: readonly string[];
  rbac?: Rbac;
  /** A name is bound when runtime roles give it any role. */
  runtimeRoles?: (pluginName: string, subject: string) => readonly string[];
}

/**
 * Whether something in configuration is bound to a plugin name, so that an unproven runtime
 * may not take it: an explicit reservation, an RBAC binding's `pluginName`, or runtime roles
 * that give the name a role. (Secret scopes need no entry: unproven runtimes read no secrets.)
 */
export function createBoundNames(sources: BoundNameSources): (name: string) => boolean {
  const reserved = new Set(sources.reservedNames ?? []);
  return (name) =>
    reserved.has(name) ||
    (sources.rbac?.boundPluginNames().has(name) ?? false) ||
    (sources.runtimeRoles?.(name, "").length ?? 0) > 0;
}
