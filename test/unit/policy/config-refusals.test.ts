/**
 * What the RBAC configuration and permission parser refuse, and the message naming the field; and the
 * plugin names RBAC binds. Written against the survivors of `npm run mutate -- policy` (docs/testing.md).
 */
import { describe, expect, it } from "vitest";
import { MAX_PERMISSION_LENGTH, parsePermission, permissionMatches } from "../../../src/policy/permission.js";
import { globMatch } from "../../../src/policy/glob.js";
import { createRbac, validateRbacConfig } from "../../../src/policy/rbac.js";

const problemsOf = (raw: unknown): string => {
  try {
    validateRbacConfig(raw);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("accepted");
};
const role = { allow: ["discover:*"] };

describe("permission parsing refuses", () => {
  it.each([
    [""],
    ["handshakex"],
    ["registerx"],
    ["call:"],
    ["nope:svc"],
    ["register:a/b"],
    ["discover:a/b"],
    ["call:svc/"],
    [`call:${"s".repeat(MAX_PERMISSION_LENGTH - 4)}`],
  ])("%s", (value) => {
    expect(parsePermission(value)).toBeUndefined();
  });

  it("accepts up to the length limit, bare verbs and a call without a method", () => {
    expect(parsePermission(`call:${"s".repeat(MAX_PERMISSION_LENGTH - 5)}`)).toBeDefined();
    expect(parsePermission("admin")).toEqual({ verb: "admin", target: "" });
    expect(parsePermission("call:kv.v1.Kv")).toEqual({ verb: "call", target: "kv.v1.Kv" });
  });

  it("a call rule without a method covers every method, one with a method only matching ones", () => {
    const any = parsePermission("call:kv.*")!;
    const get = parsePermission("call:kv.*/Get")!;
    expect(permissionMatches(any, parsePermission("call:kv.v1/Put")!)).toBe(true);
    expect(permissionMatches(get, parsePermission("call:kv.v1/Put")!)).toBe(false);
    expect(permissionMatches(get, parsePermission("call:kv.v1")!)).toBe(false);
  });
});

describe("RBAC configuration refusals name the field", () => {
  it.each([
    [[], 'rbac config: must be an object with "roles" and "bindings"'],
    [null, 'rbac config: must be an object with "roles" and "bindings"'],
  ])("%j is not an object", (raw, message) => {
    expect(() => validateRbacConfig(raw)).toThrow(message);
  });

  it.each([
    [{ roles: [], bindings: [] }, "roles: must be a map of role name to { allow, deny }"],
    [{ roles: { r: [] }, bindings: [] }, "roles.r: must be an object with allow (and optional deny)"],
    [{ roles: { r: { allow: "discover:*" } }, bindings: [] }, "roles.r.allow: must be a list of permissions"],
    [{ roles: { r: {} }, bindings: [] }, "roles.r.allow: must be a list of permissions"],
    [{ roles: { r: { allow: [], deny: "x" } }, bindings: [] }, "roles.r.deny: must be a list of permissions"],
    [{ roles: { r: { allow: [7] } }, bindings: [] }, "roles.r.allow[0]: 7 is not a permission"],
    [{ roles: { r: role }, bindings: {} }, "bindings: must be a list of { subject?, pluginName?, role }"],
    [{ roles: { r: role }, bindings: [[]] }, "bindings[0]: must be an object with role and subject and/or pluginName"],
    [{ roles: { r: role }, bindings: [{ role: "r", subject: "" }] }, "bindings[0].subject: must be a non-empty string"],
    [{ roles: { r: role }, bindings: [{ role: "r", subject: 7 }] }, "bindings[0].subject: must be a non-empty string"],
    [{ roles: { r: role }, bindings: [{ role: "r", pluginName: "" }] }, "bindings[0].pluginName: must be a non-empty string"],
    [{ roles: { r: role }, bindings: [{ role: "r", pluginName: 7 }] }, "bindings[0].pluginName: must be a non-empty string"],
    [{ roles: { r: role }, bindings: [{ role: 7, subject: "s" }] }, "bindings[0].role: 7 is not a role defined under roles"],
    [{ roles: { r: role }, bindings: [], defaultRoles: "r" }, "defaultRoles: must be a list of role names"],
    [{ roles: { r: role }, bindings: [], extra: 1 }, "extra: unknown field"],
  ])("%j", (raw, message) => {
    expect(problemsOf(raw)).toContain(`rbac config is invalid:\n  ${message}`);
  });

  it("accepts a valid binding without a problem line", () => {
    expect(validateRbacConfig({ roles: { r: role }, bindings: [{ role: "r", subject: "s", pluginName: "kv" }] }).bindings).toHaveLength(1);
  });
});

describe("RBAC bound plugin names", () => {
  it("are exactly the pluginName of the bindings", () => {
    const rbac = createRbac({ roles: { r: role }, bindings: [{ role: "r", pluginName: "kv" }, { role: "r", subject: "cn:ops" }] });
    expect([...rbac.boundPluginNames()]).toEqual(["kv"]);
    expect(rbac.rolesFor({ subject: "runtime:1", pluginName: "other" })).toEqual([]);
    expect(rbac.rolesFor({ subject: "runtime:1", pluginName: "kv" })).toEqual(["r"]);
  });
});

describe("glob", () => {
  it("lets '*' in the pattern match a literal '*' in the text as any run of characters", () => {
    expect(globMatch("*a", "*ba")).toBe(true);
    expect(globMatch("kv.*", "kv.*")).toBe(true);
    expect(globMatch("*.svc", "evil.svc.x")).toBe(false);
  });
});
