/**
 * RBAC configuration: shape, validation with errors naming the field, and
 * loading from YAML or JSON. Validation collects every problem at once so an
 * operator fixes a file in one pass; unknown fields are errors (a typo such as
 * `alow` must not silently grant nothing — or everything).
 */
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { PERMISSION_SYNTAX, parsePermission, type Permission } from "./permission.js";

export interface RbacRole {
  allow: Permission[];
  deny?: Permission[];
}

export interface RbacBinding {
  /** Exact subject or `*` glob (e.g. `spiffe://example.org/plugin/*`). */
  subject?: string;
  /** Exact plugin name (as bound to the runtime at handshake). */
  pluginName?: string;
  role: string;
}

export interface RbacConfig {
  roles: Record<string, RbacRole>;
  bindings: RbacBinding[];
  /** Roles every identity has. */
  defaultRoles?: string[];
}

const ROLE_NAME = /^[A-Za-z0-9._:-]{1,64}$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Returns the config typed, or throws one Error listing every problem by field path. */
export function validateRbacConfig(raw: unknown, source = "rbac config"): RbacConfig {
  const problems: string[] = [];
  const problem = (field: string, message: string) => problems.push(`${field}: ${message}`);
  const unknownKeys = (value: Record<string, unknown>, allowed: string[], field: string) => {
    for (const key of Object.keys(value)) if (!allowed.includes(key)) problem(field ? `${field}.${key}` : key, "unknown field");
  };
  const permissions = (value: unknown, field: string, required: boolean): Permission[] => {
    if (value === undefined && !required) return [];
    if (!Array.isArray(value)) {
      problem(field, "must be a list of permissions");
      return [];
    }
    value.forEach((p, i) => {
      if (typeof p !== "string" || parsePermission(p) === undefined) {
        problem(`${field}[${i}]`, `${JSON.stringify(p)} is not a permission (expected ${PERMISSION_SYNTAX})`);
      }
    });
    return value as Permission[];
  };

  if (!isRecord(raw)) throw new Error(`${source}: must be an object with "roles" and "bindings"`);
  unknownKeys(raw, ["roles", "bindings", "defaultRoles"], "");

  // Null prototype: a role named "__proto__" stays an ordinary key.
  const roles: Record<string, RbacRole> = Object.create(null) as Record<string, RbacRole>;
  if (!isRecord(raw.roles)) {
    problem("roles", "must be a map of role name to { allow, deny }");
  } else {
    for (const [name, role] of Object.entries(raw.roles)) {
      const field = `roles.${name}`;
      if (!ROLE_NAME.test(name)) problem(field, "role names are 1-64 letters, digits, '.', '_', ':' or '-'");
      if (!isRecord(role)) {
        problem(field, "must be an object with allow (and optional deny)");
        continue;
      }
      unknownKeys(role, ["allow", "deny"], field);
      const allow = permissions(role.allow, `${field}.allow`, true);
      const deny = permissions(role.deny, `${field}.deny`, false);
      roles[name] = { allow, deny };
    }
  }
  const roleExists = (name: unknown, field: string) => {
    if (typeof name !== "string" || !Object.hasOwn(roles, name)) problem(field, `${JSON.stringify(name)} is not a role defined under roles`);
  };

  const bindings: RbacBinding[] = [];
  if (!Array.isArray(raw.bindings)) {
    problem("bindings", "must be a list of { subject?, pluginName?, role }");
  } else {
    raw.bindings.forEach((b, i) => {
      const field = `bindings[${i}]`;
      if (!isRecord(b)) {
        problem(field, "must be an object with role and subject and/or pluginName");
        return;
      }
      unknownKeys(b, ["subject", "pluginName", "role"], field);
      if (b.subject === undefined && b.pluginName === undefined) problem(field, "needs a subject or a pluginName");
      if (b.subject !== undefined && (typeof b.subject !== "string" || b.subject === "")) problem(`${field}.subject`, "must be a non-empty string");
      if (b.pluginName !== undefined && (typeof b.pluginName !== "string" || b.pluginName === "")) problem(`${field}.pluginName`, "must be a non-empty string");
      roleExists(b.role, `${field}.role`);
      bindings.push(b as unknown as RbacBinding);
    });
  }

  let defaultRoles: string[] | undefined;
  if (raw.defaultRoles !== undefined) {
    if (!Array.isArray(raw.defaultRoles)) problem("defaultRoles", "must be a list of role names");
    else raw.defaultRoles.forEach((r, i) => roleExists(r, `defaultRoles[${i}]`));
    defaultRoles = Array.isArray(raw.defaultRoles) ? (raw.defaultRoles as string[]) : undefined;
  }

  if (problems.length > 0) throw new Error(`${source} is invalid:\n  ${problems.join("\n  ")}`);
  return { roles, bindings, ...(defaultRoles ? { defaultRoles } : {}) };
}

/** Reads and validates an RBAC config from a .yaml/.yml or .json file. */
export async function loadRbacConfig(path: string): Promise<RbacConfig> {
  const text = await readFile(path, "utf8");
  const ext = extname(path).toLowerCase();
  let raw: unknown;
  try {
    if (ext === ".json") raw = JSON.parse(text);
    else if (ext === ".yaml" || ext === ".yml") raw = (await import("yaml")).parse(text); // loaded only for YAML files
    else throw new Error("the file name must end in .yaml, .yml or .json");
  } catch (err) {
    throw new Error(`rbac config ${path}: cannot parse: ${err instanceof Error ? err.message : String(err)}`);
  }
  return validateRbacConfig(raw, `rbac config ${path}`);
}
