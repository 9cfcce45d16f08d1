/**
 * What a plugin declares at handshake: every field is validated and named in the refusal, every list is
 * bounded by limits.declarations and holds no name twice. Written against `npm run mutate -- handshake`.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { HandshakeRequestSchema } from "../../../gen/plugboard/v1/handshake_pb.js";
import { validateDeclarations } from "../../../src/handshake/declarations.js";
import type { Limits } from "../../../src/host/context.js";
import { DEFAULT_LIMITS } from "../../../src/protocol/constants.js";

const limits: Limits = { ...DEFAULT_LIMITS, declarations: 2, nameBytes: 24 };
const request = (init: Record<string, unknown> = {}) =>
  create(HandshakeRequestSchema, { pluginName: "kv", pluginVersion: "1.0.0", ...init } as never);

const refusal = (init: Record<string, unknown>): string => {
  try {
    validateDeclarations(request(init), limits);
  } catch (e) {
    const err = ConnectError.from(e);
    expect(err.code).toBe(Code.InvalidArgument);
    return err.rawMessage;
  }
  throw new Error("accepted");
};

const svc = (type: string, version = "1.0.0") => ({ type, version });
const need = (type: string, versionRange = "^1") => ({ type, versionRange });

describe("handshake declarations", () => {
  it("keeps what was declared, an empty version range meaning any version", () => {
    const d = validateDeclarations(
      request({
        provides: [svc("kv.v1.Kv", "1.2.3"), svc("kv.v1.Admin", "2.0.0")],
        requires: [need("log.v1.Log", ""), { type: "db.v1.Db", versionRange: "^2", optional: true }],
        secrets: [{ name: "db/password", version: "7" }, { name: "api-key", optional: true }],
        capabilities: ["hostlog.v1.LogService"],
      }),
      limits,
    );
    expect(d).toEqual({
      provides: [{ type: "kv.v1.Kv", version: "1.2.3" }, { type: "kv.v1.Admin", version: "2.0.0" }],
      requires: [{ type: "log.v1.Log", versionRange: "*", optional: false }, { type: "db.v1.Db", versionRange: "^2", optional: true }],
      secrets: [{ name: "db/password", version: "7", optional: false }, { name: "api-key", version: "", optional: true }],
      capabilities: ["hostlog.v1.LogService"],
    });
  });

  it.each([
    [{ pluginName: "KV" }, "plugin_name: must be lowercase letters, digits, '.', '_' or '-'"],
    [{ pluginName: "k".repeat(25) }, "plugin_name: longer than 24 bytes"],
    [{ pluginVersion: "one" }, "plugin_version: must be a semver version"],
    [{ provides: [svc("a.v1.A"), svc("b.v1.B"), svc("c.v1.C")] }, "provides: more than 2 entries"],
    [{ requires: [need("a.v1.A"), need("b.v1.B"), need("c.v1.C")] }, "requires: more than 2 entries"],
    [{ secrets: [{ name: "a" }, { name: "b" }, { name: "c" }] }, "secrets: more than 2 entries"],
    [{ capabilities: ["a.v1.A", "b.v1.B", "c.v1.C"] }, "capabilities: more than 2 entries"],
    [{ appProtocolRanges: ["^1", "^2", "^3"] }, "app_protocol_ranges: more than 2 entries"],
    [{ provides: [svc("a.v1.A"), svc("Kv")] }, "provides[1].type: must be a fully qualified service name like pkg.v1.Service"],
    [{ provides: [svc("a.v1.A"), svc("b.v1.B", "latest")] }, "provides[1].version: must be a semver version"],
    [{ requires: [need("a.v1.A"), need("b")] }, "requires[1].type: must be a fully qualified service name like pkg.v1.Service"],
    [{ requires: [need("a.v1.A"), need("b.v1.B", "not a range")] }, "requires[1].version_range: must be a semver range"],
    [{ secrets: [{ name: "a" }, { name: "../etc" }] }, "secrets[1].name: must be letters, digits, '.', '_', '-' or '/'-separated segments"],
    [{ secrets: [{ name: "a" }, { name: "b", version: "v".repeat(25) }] }, "secrets[1].version: too long"],
    [{ capabilities: ["a.v1.A", "nope"] }, "capabilities[1]: must be a fully qualified service name like pkg.v1.Service"],
    [{ capabilities: ["a.v1.A", "x".repeat(25)] }, "capabilities[1]: longer than 24 bytes"],
    [{ provides: [svc("a.v1.A"), svc("a.v1.A", "2.0.0")] }, "provides: declares the same name twice"],
    [{ requires: [need("a.v1.A"), need("a.v1.A", "^2")] }, "requires: declares the same name twice"],
    [{ secrets: [{ name: "a", version: "1" }, { name: "a", version: "2" }] }, "secrets: declares the same name twice"],
    [{ capabilities: ["a.v1.A", "a.v1.A"] }, "capabilities: declares the same name twice"],
  ])("%j is refused", (init, message) => {
    expect(refusal(init)).toBe(message);
  });

  it("accepts each list at its limit, names and secret versions at nameBytes", () => {
    const d = validateDeclarations(
      request({
        pluginName: "k".repeat(24),
        provides: [svc("a.v1.A"), svc("b.v1.B")],
        requires: [need("a.v1.A"), need("b.v1.B")],
        secrets: [{ name: "a", version: "v".repeat(24) }, { name: "b" }],
        capabilities: ["a.v1.A", "b.v1.B"],
        appProtocolRanges: ["^1", "^2"],
      }),
      limits,
    );
    expect([d.provides.length, d.requires.length, d.secrets.length, d.capabilities.length]).toEqual([2, 2, 2, 2]);
  });

  it("different names are not duplicates, whatever else they share", () => {
    const d = validateDeclarations(
      request({
        provides: [svc("a.v1.A"), svc("a.v1.B")],
        requires: [need("a.v1.A"), need("a.v1.B")],
        secrets: [{ name: "a", version: "1" }, { name: "b", version: "1" }],
        capabilities: ["a.v1.A", "a.v1.B"],
      }),
      limits,
    );
    expect(d.capabilities).toEqual(["a.v1.A", "a.v1.B"]);
  });
});
