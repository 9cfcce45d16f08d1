/**
 * The small policy pieces the host wires together: which plugin names configuration binds (so an
 * unproven runtime may not take them), what the host app itself may call, who is an operator, and
 * RBAC's judgement of a secret read. Written against `npm run mutate -- policy` (docs/testing.md).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import type { Identity } from "../../../src/identity/identity.js";
import { createBoundNames } from "../../../src/policy/bound-names.js";
import { hostAppAuthorization } from "../../../src/policy/host-app.js";
import { isAdmin } from "../../../src/policy/host-policy.js";
import { createRbac } from "../../../src/policy/rbac.js";
import { secretReadAuthorizer } from "../../../src/policy/secret-read.js";

const refusal = (fn: () => void): ConnectError => {
  try {
    fn();
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("not refused");
};

describe("bound plugin names", () => {
  const rbac = createRbac({ roles: { r: { allow: ["discover:*"] } }, bindings: [{ pluginName: "billing", role: "r" }] });
  const runtimeRoles = (name: string): readonly string[] => (name === "kv" ? ["writer"] : []);

  it("nothing configured binds no name", () => {
    const bound = createBoundNames({});
    for (const name of ["kv", "billing", ""]) expect(bound(name)).toBe(false);
  });

  it("a reserved name is bound on its own, and only it", () => {
    const bound = createBoundNames({ reservedNames: ["payments"] });
    expect(bound("payments")).toBe(true);
    expect(bound("payments2")).toBe(false);
  });

  it("an RBAC pluginName binding binds the name, and only it", () => {
    const bound = createBoundNames({ rbac });
    expect(bound("billing")).toBe(true);
    expect(bound("kv")).toBe(false);
  });

  it("runtime roles bind a name they give a role to, not one they give none", () => {
    const bound = createBoundNames({ runtimeRoles });
    expect(bound("kv")).toBe(true);
    expect(bound("billing")).toBe(false);
  });

  it("runtime roles are asked for the name alone, with no subject", () => {
    const asked: [string, string][] = [];
    // Roles given to a name whatever the subject: the bound-name check has no subject to offer.
    const bound = createBoundNames({
      runtimeRoles: (name, subject) => {
        asked.push([name, subject]);
        return subject === "" ? ["writer"] : [];
      },
    });
    expect(bound("kv")).toBe(true);
    expect(asked).toEqual([["kv", ""]]);
  });

  it("each source binds its names when all three are configured", () => {
    const bound = createBoundNames({ reservedNames: ["payments"], rbac, runtimeRoles });
    expect(["payments", "billing", "kv", "other"].map(bound)).toEqual([true, true, true, false]);
  });
});

describe("what the host app itself may call", () => {
  it("everything, with no hook and no RBAC", () => {
    expect(() => hostAppAuthorization({}, undefined)("kv.v1.Kv", "Get")).not.toThrow();
  });

  it("what mayHostCall allows, and PermissionDenied naming the method otherwise", () => {
    const authorize = hostAppAuthorization({ mayHostCall: (service, method) => service === "kv.v1.Kv" && method === "Get" }, undefined);
    expect(() => authorize("kv.v1.Kv", "Get")).not.toThrow();
    const err = refusal(() => authorize("kv.v1.Kv", "Put"));
    expect(err.code).toBe(Code.PermissionDenied);
    expect(err.rawMessage).toBe("host policy does not allow the host app to call kv.v1.Kv/Put");
  });

  it("with RBAC, only what the subject host holds as call:<service>/<method>", () => {
    const rbac = createRbac({ roles: { app: { allow: ["call:kv.v1.Kv/Get"] } }, bindings: [{ subject: "host", role: "app" }] });
    const authorize = hostAppAuthorization({}, rbac);
    expect(() => authorize("kv.v1.Kv", "Get")).not.toThrow();
    const err = refusal(() => authorize("kv.v1.Kv", "Put"));
    expect(err.code).toBe(Code.PermissionDenied);
    expect(err.rawMessage).toBe("permission denied: call:kv.v1.Kv/Put");
  });
});

describe("who is an operator", () => {
  const who = (roles: string[]): Identity => ({ kind: "external", subject: "cn:ops", method: "mtls", roles });

  it("no identity never is", () => {
    expect(isAdmin({}, undefined)).toBe(false);
    expect(isAdmin({ isAdmin: () => true }, undefined)).toBe(false);
  });

  it("by default, an identity with the admin role, and no other", () => {
    expect(isAdmin({}, who(["admin"]))).toBe(true);
    expect(isAdmin({}, who(["reader"]))).toBe(false);
    expect(isAdmin({}, who([]))).toBe(false);
  });

  it("the isAdmin hook decides when given", () => {
    expect(isAdmin({ isAdmin: (i) => i.subject === "cn:ops" }, who([]))).toBe(true);
    expect(isAdmin({ isAdmin: () => false }, who(["admin"]))).toBe(false);
  });
});

describe("secret reads under RBAC", () => {
  it("need secret:<name> for the caller's proven subject", () => {
    const rbac = createRbac({ roles: { db: { allow: ["secret:db/*"] } }, bindings: [{ pluginName: "kv", role: "db" }] });
    const mayRead = secretReadAuthorizer(rbac);
    const kv: Identity = { kind: "runtime", subject: "runtime:rt_1", method: "token", runtimeId: "rt_1", pluginName: "kv", nameProof: "launch_secret", roles: [] };
    expect(mayRead(kv, "db/password")).toBe(true);
    expect(mayRead(kv, "api/key")).toBe(false);
    // An unproven name earns nothing bound to it.
    expect(mayRead({ ...kv, nameProof: "unproven" }, "db/password")).toBe(false);
  });
});
