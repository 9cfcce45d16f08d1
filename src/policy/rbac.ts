/**
 * Role-based access control. Roles grant (allow) and withdraw (deny)
 * permissions; bindings give roles to subjects (exact or `*` glob) and plugin
 * names. Deny wins over allow, and no matching allow means deny.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { globMatch } from "./glob.js";
import { parsePermission, permissionMatches, type ParsedPermission, type Permission } from "./permission.js";
import { validateRbacConfig, type RbacConfig } from "./rbac-config.js";

export type { RbacBinding, RbacConfig, RbacRole } from "./rbac-config.js";
export { loadRbacConfig, validateRbacConfig } from "./rbac-config.js";
export type { Permission } from "./permission.js";

/** What RBAC needs of a caller; an `Identity` fits. */
export interface RbacSubject {
  readonly subject: string;
  readonly pluginName?: string | undefined;
  /** Roles the authenticator assigned (mTLS `roles` option, JWT `rolesClaim`); unknown names are ignored. */
  readonly roles?: readonly string[];
}

export interface Rbac {
  rolesFor(who: RbacSubject): string[];
  check(who: RbacSubject, permission: Permission): boolean;
  /** Throws ConnectError(PermissionDenied) naming the permission. */
  require(who: RbacSubject, permission: Permission): void;
  /** Plugin names bindings give roles to: unproven runtimes may not take them. */
  boundPluginNames(): ReadonlySet<string>;
}

interface CompiledRole {
  allow: ParsedPermission[];
  deny: ParsedPermission[];
}

export function createRbac(config: RbacConfig): Rbac {
  const valid = validateRbacConfig(config);
  const roles = new Map<string, CompiledRole>();
  for (const [name, role] of Object.entries(valid.roles)) {
    // Validation guarantees every entry parses.
    roles.set(name, { allow: role.allow.map((p) => parsePermission(p)!), deny: (role.deny ?? []).map((p) => parsePermission(p)!) });
  }
  const bindings = valid.bindings.map((b) => ({ ...b }));
  const defaultRoles = [...(valid.defaultRoles ?? [])];

  const rolesFor = (who: RbacSubject): string[] => {
    const result = new Set(defaultRoles);
    for (const b of bindings) {
      if (b.subject !== undefined && !globMatch(b.subject, who.subject)) continue;
      if (b.pluginName !== undefined && b.pluginName !== who.pluginName) continue;
      result.add(b.role);
    }
    for (const role of who.roles ?? []) if (roles.has(role)) result.add(role);
    return [...result];
  };

  const check = (who: RbacSubject, permission: Permission): boolean => {
    const requested = parsePermission(permission);
    if (requested === undefined) return false; // fail closed on a malformed request
    const held = rolesFor(who).map((name) => roles.get(name)!);
    if (held.some((role) => role.deny.some((rule) => permissionMatches(rule, requested)))) return false;
    return held.some((role) => role.allow.some((rule) => permissionMatches(rule, requested)));
  };

  const pluginNames = new Set(bindings.flatMap((b) => (b.pluginName === undefined ? [] : [b.pluginName])));
  return {
    rolesFor,
    check,
    boundPluginNames: () => pluginNames,
    require(who, permission) {
      if (!check(who, permission)) {
        const shown = permission.length > 200 ? `${permission.slice(0, 200)}…` : permission;
        throw new ConnectError(`permission denied: ${shown}`, Code.PermissionDenied);
      }
    },
  };
}
