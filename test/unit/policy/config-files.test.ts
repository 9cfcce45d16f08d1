/**
 * RBAC configuration as an operator writes it (YAML files, typos YAML turns into other types) and the
 * answers RBAC gives on the edges: the denial message of a long permission, subject bindings for
 * callers that also carry a plugin name, non-string permissions from untyped JavaScript.
 * Written against the survivors of `npm run mutate -- policy` (docs/testing.md).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRbac, loadRbacConfig, validateRbacConfig } from "../../../src/policy/rbac.js";
import { createSwappableRbac } from "../../../src/policy/swappable-rbac.js";

const problemsOf = (raw: unknown): string => {
  try {
    validateRbacConfig(raw);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("accepted");
};

describe("RBAC config files", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "plugboard-rbac-files-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("loads a .yml file like a .yaml one", async () => {
    const path = join(dir, "rbac.yml");
    await writeFile(path, ["roles:", "  ops:", "    allow: [admin]", "bindings:", "  - subject: cn:ops", "    role: ops", ""].join("\n"));
    expect(createRbac(await loadRbacConfig(path)).check({ subject: "cn:ops" }, "admin")).toBe(true);
  });

  it("names the file whose content is invalid", async () => {
    const path = join(dir, "typo.yaml");
    await writeFile(path, ["roles:", "  ops:", "    alow: [admin]", "bindings: []", ""].join("\n"));
    await expect(loadRbacConfig(path)).rejects.toThrow(`rbac config ${path} is invalid:\n  roles.ops.alow: unknown field`);
  });

  it("refuses a YAML file holding a bare text, not a map", async () => {
    const path = join(dir, "scalar.yaml");
    await writeFile(path, "roles and bindings\n");
    await expect(loadRbacConfig(path)).rejects.toThrow(`rbac config ${path}: must be an object with "roles" and "bindings"`);
  });

  it("refuses a role YAML read as a number, even when a role has that number as its name", () => {
    // `role: 1` in YAML is the number 1; it must not match the role named "1".
    expect(problemsOf({ roles: { "1": { allow: ["admin"] } }, bindings: [{ subject: "cn:ops", role: 1 }] })).toContain(
      "bindings[0].role: 1 is not a role defined under roles",
    );
    expect(problemsOf({ roles: { "1": { allow: ["admin"] } }, bindings: [], defaultRoles: [1] })).toContain(
      "defaultRoles[0]: 1 is not a role defined under roles",
    );
  });

  it("lists every problem on its own line", () => {
    expect(problemsOf({ roles: { r: { allow: ["fly"] } }, bindings: [{ role: "ghost", subject: "s" }] })).toBe(
      'rbac config is invalid:\n  roles.r.allow[0]: "fly" is not a permission (expected handshake, admin, register:<type|*>, discover:<type|*>, call:<type|*>[/<Method>], capability:<type|*>, secret:<name|*>)\n  bindings[0].role: "ghost" is not a role defined under roles',
    );
  });
});

describe("RBAC answers", () => {
  const rbac = createRbac({
    roles: { caller: { allow: ["call:*"] }, ops: { allow: ["admin"] } },
    bindings: [{ subject: "spiffe://example.org/plugin/kv", role: "ops" }],
    defaultRoles: ["caller"],
  });

  const denial = (permission: string): string => {
    try {
      rbac.require({ subject: "cn:nobody" }, permission);
    } catch (e) {
      const err = ConnectError.from(e);
      expect(err.code).toBe(Code.PermissionDenied);
      return err.rawMessage;
    }
    throw new Error("allowed");
  };

  it("a denial shows a permission of up to 200 characters whole, and cuts a longer one", () => {
    const exactly200 = `secret:${"a".repeat(193)}`;
    expect(denial(exactly200)).toBe(`permission denied: ${exactly200}`);
    const longer = `secret:${"b".repeat(300)}`;
    expect(denial(longer)).toBe(`permission denied: ${longer.slice(0, 200)}…`);
  });

  it("a subject binding applies to a caller that also has a plugin name", () => {
    expect(rbac.rolesFor({ subject: "spiffe://example.org/plugin/kv", pluginName: "kv" }).sort()).toEqual(["caller", "ops"]);
    expect(rbac.check({ subject: "spiffe://example.org/plugin/kv", pluginName: "kv" }, "admin")).toBe(true);
  });

  it("fails closed on a permission that is not a string (untyped JavaScript)", () => {
    for (const bad of [42, null, undefined, { verb: "admin" }]) {
      expect(rbac.check({ subject: "spiffe://example.org/plugin/kv" }, bad as unknown as string)).toBe(false);
    }
  });

  it("a swapped RBAC answers rolesFor and boundPluginNames with the new rules", () => {
    const swappable = createSwappableRbac(rbac);
    const who = { subject: "cn:a", pluginName: "billing" };
    expect(swappable.rolesFor(who)).toEqual(["caller"]);
    expect([...swappable.boundPluginNames()]).toEqual([]);
    swappable.swap(createRbac({ roles: { r: { allow: ["admin"] } }, bindings: [{ pluginName: "billing", role: "r" }] }));
    expect(swappable.rolesFor(who)).toEqual(["r"]);
    expect([...swappable.boundPluginNames()]).toEqual(["billing"]);
  });
});
