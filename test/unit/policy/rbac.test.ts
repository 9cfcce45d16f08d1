import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { Code, ConnectError } from "@connectrpc/connect";
import { createRbac, loadRbacConfig, validateRbacConfig, type RbacConfig } from "../../../src/policy/rbac.js";
import { globMatch } from "../../../src/policy/glob.js";
import { parsePermission } from "../../../src/policy/permission.js";

const config: RbacConfig = {
  roles: {
    plugin: { allow: ["handshake", "discover:*", "register:kv.v1.*"] },
    consumer: { allow: ["call:kv.v1.KvService/Get", "call:kv.v1.KvService/List"] },
    writer: { allow: ["call:kv.v1.KvService"], deny: ["call:kv.v1.KvService/Delete"] },
    secrets: { allow: ["secret:db/*"], deny: ["secret:db/root"] },
    admin: { allow: ["admin", "call:*", "secret:*"] },
    quarantined: { allow: [], deny: ["call:*", "secret:*", "register:*"] },
  },
  bindings: [
    { subject: "spiffe://example.org/plugin/*", role: "plugin" },
    { subject: "spiffe://example.org/plugin/reader", role: "consumer" },
    { pluginName: "kv-writer", role: "writer" },
    { subject: "jwt:https://idp#ops-*", role: "admin" },
    { subject: "spiffe://example.org/plugin/bad", role: "quarantined" },
    { subject: "cn:db-migrator", pluginName: "migrator", role: "secrets" },
  ],
  defaultRoles: [],
};

describe("createRbac", () => {
  const rbac = createRbac(config);
  const reader = { subject: "spiffe://example.org/plugin/reader" };

  it("binds roles by subject glob, exact subject, plugin name and both together", () => {
    expect(rbac.rolesFor(reader).sort()).toEqual(["consumer", "plugin"]);
    expect(rbac.rolesFor({ subject: "runtime:1", pluginName: "kv-writer" })).toEqual(["writer"]);
    expect(rbac.rolesFor({ subject: "cn:db-migrator" })).toEqual([]);
    expect(rbac.rolesFor({ subject: "cn:db-migrator", pluginName: "migrator" })).toEqual(["secrets"]);
    expect(rbac.rolesFor({ subject: "spiffe://other.org/plugin/x" })).toEqual([]);
  });

  it("allows what a role allows, method-scoped and service-wide", () => {
    expect(rbac.check(reader, "handshake")).toBe(true);
    expect(rbac.check(reader, "discover:anything.v1.Svc")).toBe(true);
    expect(rbac.check(reader, "call:kv.v1.KvService/Get")).toBe(true);
    expect(rbac.check(reader, "register:kv.v1.KvService")).toBe(true);
    const writer = { subject: "runtime:9", pluginName: "kv-writer" };
    expect(rbac.check(writer, "call:kv.v1.KvService/Put")).toBe(true);
    expect(rbac.check(writer, "call:kv.v1.KvService")).toBe(true);
  });

  it("denies without a matching allow", () => {
    expect(rbac.check(reader, "call:kv.v1.KvService/Put")).toBe(false);
    expect(rbac.check(reader, "call:kv.v1.KvService")).toBe(false); // method-scoped rules do not grant the whole service
    expect(rbac.check(reader, "register:other.v1.Svc")).toBe(false);
    expect(rbac.check(reader, "admin")).toBe(false);
    expect(rbac.check({ subject: "nobody" }, "handshake")).toBe(false);
  });

  it("lets deny win over allow, in the same role and across roles", () => {
    const writer = { subject: "runtime:9", pluginName: "kv-writer" };
    expect(rbac.check(writer, "call:kv.v1.KvService/Delete")).toBe(false);
    const migrator = { subject: "cn:db-migrator", pluginName: "migrator" };
    expect(rbac.check(migrator, "secret:db/app")).toBe(true);
    expect(rbac.check(migrator, "secret:db/root")).toBe(false);
    const bad = { subject: "spiffe://example.org/plugin/bad" };
    expect(rbac.check(bad, "handshake")).toBe(true);
    expect(rbac.check(bad, "register:kv.v1.KvService")).toBe(false); // plugin allows, quarantined denies
  });

  it("adds authenticator-assigned roles that the config defines, ignoring unknown ones", () => {
    const jwtUser = { subject: "jwt:https://idp#alice", roles: ["consumer", "superuser"] };
    expect(rbac.rolesFor(jwtUser)).toEqual(["consumer"]);
    expect(rbac.check(jwtUser, "call:kv.v1.KvService/Get")).toBe(true);
    expect(rbac.check({ subject: "jwt:https://idp#ops-bob" }, "admin")).toBe(true);
  });

  it("applies default roles to everyone", () => {
    const r = createRbac({ ...config, defaultRoles: ["plugin"] });
    expect(r.check({ subject: "anyone" }, "handshake")).toBe(true);
  });

  it("fails closed on malformed permissions", () => {
    const admin = { subject: "jwt:https://idp#ops-x" };
    for (const p of ["", "call", "call:", "bogus:x", "call:a/b/c", "secret:has space", "admin:x"]) {
      expect(rbac.check(admin, p), p).toBe(false);
    }
  });

  it("require throws PermissionDenied naming the permission", () => {
    expect(() => rbac.require(reader, "call:kv.v1.KvService/Get")).not.toThrow();
    let err: unknown;
    try {
      rbac.require(reader, "secret:db/password");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.PermissionDenied);
    expect((err as ConnectError).rawMessage).toBe("permission denied: secret:db/password");
  });

  it("property: a deny rule always wins over any allow that also matches", () => {
    const segment = fc.stringMatching(/^[a-z][a-z0-9.]{0,10}$/);
    const method = fc.stringMatching(/^[A-Z][a-zA-Z]{0,8}$/);
    fc.assert(
      fc.property(segment, method, fc.constantFrom("call:*", "call:{s}", "call:{s}/*", "call:{s}/{m}"), (s, m, allowShape) => {
        const r = createRbac({
          roles: {
            a: { allow: [allowShape.replace("{s}", s).replace("{m}", m)] },
            d: { allow: [], deny: [`call:${s}/${m}`] },
          },
          bindings: [{ subject: "*", role: "a" }, { subject: "x", role: "d" }],
        });
        expect(r.check({ subject: "y" }, `call:${s}/${m}`)).toBe(true);
        expect(r.check({ subject: "x" }, `call:${s}/${m}`)).toBe(false);
      }),
    );
  });
});

describe("globMatch", () => {
  const reference = (pattern: string, text: string) =>
    new RegExp(`^${pattern.split("*").map((part) => part.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")).join(".*")}$`, "s").test(text);

  it("property: agrees with a RegExp reference on small alphabets", () => {
    const ab = fc.constantFrom("a", "b", "/", ".");
    fc.assert(
      fc.property(fc.string({ unit: fc.oneof(ab, fc.constant("*")), maxLength: 8 }), fc.string({ unit: ab, maxLength: 10 }), (p, t) => {
        expect(globMatch(p, t)).toBe(reference(p, t));
      }),
      { numRuns: 2000 },
    );
  });

  it("treats everything but * literally", () => {
    expect(globMatch("a.b", "aXb")).toBe(false);
    expect(globMatch("spiffe://td/plugin/*", "spiffe://td/plugin/kv")).toBe(true);
    expect(globMatch("spiffe://td/plugin/*", "spiffe://td/other/kv")).toBe(false);
  });
});

describe("parsePermission", () => {
  it("property: every well-formed call permission parses into its parts", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9._-]{1,40}$/), fc.option(fc.stringMatching(/^[A-Za-z0-9_]{1,20}$/), { nil: undefined }), (t, m) => {
        const parsed = parsePermission(m === undefined ? `call:${t}` : `call:${t}/${m}`);
        expect(parsed).toEqual(m === undefined ? { verb: "call", target: t } : { verb: "call", target: t, method: m });
      }),
    );
  });
});

describe("RBAC config files", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "plugboard-rbac-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("loads YAML and JSON", async () => {
    const yamlPath = join(dir, "rbac.yaml");
    await writeFile(
      yamlPath,
      ["roles:", "  reader:", "    allow: [\"discover:*\", \"call:kv.v1.KvService/Get\"]", "bindings:", "  - subject: \"cn:*\"", "    role: reader", ""].join("\n"),
    );
    const fromYaml = createRbac(await loadRbacConfig(yamlPath));
    expect(fromYaml.check({ subject: "cn:ops" }, "call:kv.v1.KvService/Get")).toBe(true);

    const jsonPath = join(dir, "rbac.json");
    await writeFile(jsonPath, JSON.stringify(config));
    expect(createRbac(await loadRbacConfig(jsonPath)).check({ subject: "jwt:https://idp#ops-1" }, "admin")).toBe(true);
  });

  it("reports every problem with the field that has it", () => {
    const attempt = () =>
      validateRbacConfig({
        roles: { reader: { alow: ["call:*"], allow: ["call:*", "fly:away"] }, "bad name!": { allow: [] } },
        bindings: [{ role: "reader" }, { subject: "x", role: "ghost" }],
        defaultRoles: ["nobody"],
        extra: true,
      });
    expect(attempt).toThrow(/extra: unknown field/);
    expect(attempt).toThrow(/roles\.reader\.alow: unknown field/);
    expect(attempt).toThrow(/roles\.reader\.allow\[1\]: "fly:away" is not a permission/);
    expect(attempt).toThrow(/roles\.bad name!: role names/);
    expect(attempt).toThrow(/bindings\[0\]: needs a subject or a pluginName/);
    expect(attempt).toThrow(/bindings\[1\]\.role: "ghost" is not a role/);
    expect(attempt).toThrow(/defaultRoles\[0\]: "nobody" is not a role/);
  });

  it("names the file when it cannot be parsed", async () => {
    const p = join(dir, "broken.json");
    await writeFile(p, "{ nope");
    await expect(loadRbacConfig(p)).rejects.toThrow(/broken\.json: cannot parse/);
    await writeFile(join(dir, "rbac.toml"), "roles = {}");
    await expect(loadRbacConfig(join(dir, "rbac.toml"))).rejects.toThrow(/\.yaml, \.yml or \.json/);
  });

  it("keeps a role named __proto__ an ordinary role", () => {
    const r = createRbac(JSON.parse('{"roles":{"__proto__":{"allow":["handshake"]}},"bindings":[{"subject":"a","role":"__proto__"}]}') as RbacConfig);
    expect(r.check({ subject: "a" }, "handshake")).toBe(true);
    expect(r.check({ subject: "b" }, "handshake")).toBe(false);
  });
});
