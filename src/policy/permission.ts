/**
 * RBAC permission strings:
 *   handshake | admin
 *   register:<serviceType> | discover:<serviceType> | capability:<type> | secret:<name>
 *   call:<serviceType>[/<Method>]
 * In rules every target may be a `*` glob; a `call` rule without a method covers all methods.
 */
import { globMatch } from "./glob.js";

export const PERMISSION_VERBS = ["handshake", "admin", "register", "discover", "call", "capability", "secret"] as const;
export type PermissionVerb = (typeof PERMISSION_VERBS)[number];
export type Permission = string;

export interface ParsedPermission {
  readonly verb: PermissionVerb;
  /** Service type, capability type or secret name; "" for handshake/admin. */
  readonly target: string;
  /** Only for `call`; undefined means "the whole service". */
  readonly method?: string;
}

export const MAX_PERMISSION_LENGTH = 512;
export const PERMISSION_SYNTAX =
  "handshake, admin, register:<type|*>, discover:<type|*>, call:<type|*>[/<Method>], capability:<type|*>, secret:<name|*>";

const BARE_VERBS = new Set<string>(["handshake", "admin"]);
const TARGET_VERBS = new Set<string>(["register", "discover", "call", "capability", "secret"]);
const SERVICE_TYPE = /^[A-Za-z0-9._*-]+$/;
const METHOD = /^[A-Za-z0-9_*]+$/;
/** Secret names may be paths (`db/password`), so they allow `/` and `:`. */
const SECRET_NAME = /^[A-Za-z0-9._*\/:-]+$/;

/** Parses a permission (or rule); undefined when it is not one. */
export function parsePermission(value: string): ParsedPermission | undefined {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_PERMISSION_LENGTH) return undefined;
  if (BARE_VERBS.has(value)) return { verb: value as PermissionVerb, target: "" };
  const colon = value.indexOf(":");
  if (colon === -1) return undefined;
  const verb = value.slice(0, colon);
  const rest = value.slice(colon + 1);
  if (!TARGET_VERBS.has(verb) || rest === "") return undefined;
  if (verb === "secret") return SECRET_NAME.test(rest) ? { verb, target: rest } : undefined;
  if (verb === "call") {
    const slash = rest.indexOf("/");
    if (slash === -1) return SERVICE_TYPE.test(rest) ? { verb, target: rest } : undefined;
    const target = rest.slice(0, slash);
    const method = rest.slice(slash + 1);
    return SERVICE_TYPE.test(target) && METHOD.test(method) ? { verb, target, method } : undefined;
  }
  return SERVICE_TYPE.test(rest) ? { verb: verb as PermissionVerb, target: rest } : undefined;
}

/** Whether `rule` (which may hold globs) covers the requested permission (taken literally). */
export function permissionMatches(rule: ParsedPermission, requested: ParsedPermission): boolean {
  if (rule.verb !== requested.verb) return false;
  if (!globMatch(rule.target, requested.target)) return false;
  if (rule.verb !== "call" || rule.method === undefined) return true;
  return requested.method !== undefined && globMatch(rule.method, requested.method);
}
