import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signCallerHeader } from "../../src/protocol/caller-header.js";
import { bearer } from "../helpers/transports.js";
import { codeOf, startAttackHost, type AttackHost } from "./harness.js";

/**
 * Identity headers a caller might forge: `plugboard-caller` (the router's signed
 * caller identity) and `plugboard-grant`. The host never takes identity from them,
 * and the router strips them before a provider sees the call.
 */
let h: AttackHost;
beforeAll(async () => {
  h = await startAttackHost();
});
afterAll(async () => h?.close());

describe("spoofed identity headers", () => {
  it("a forged caller header signed with the provider's real key is replaced by the router's own", async () => {
    // Worst case: the attacker even knows the provider's signing key and claims to be the provider.
    const forged = signCallerHeader({ subject: `runtime:${h.kvProvider.runtimeId}`, method: "token", path: "/kv.v1.KVService/Get" }, Buffer.from(h.kvProvider.signingKey));
    const res = await h.kv().get({ key: "k" }, { headers: { authorization: `Bearer ${h.consumer.token}`, "plugboard-caller": forged } });
    expect(res.caller).toBe(`runtime:${h.consumer.runtimeId}`);
    expect(h.view.headers!.get("plugboard-caller")).not.toBe(forged);
  });

  it("the router forwards neither the caller's token nor a grant, nor any plugboard-* header", async () => {
    await h.kv().get(
      { key: "k" },
      { headers: { authorization: `Bearer ${h.consumer.token}`, "plugboard-grant": h.grant.grantToken, "plugboard-provider-evil": "x", "x-app": "kept" } },
    );
    const seen = [...h.view.headers!.entries()];
    expect(seen.filter(([name]) => name.startsWith("plugboard-")).map(([n]) => n)).toEqual(["plugboard-caller"]);
    expect(JSON.stringify(seen)).not.toContain(h.consumer.token);
    expect(JSON.stringify(seen)).not.toContain(h.grant.grantToken);
    expect(h.view.headers!.get("x-app")).toBe("kept");
  });

  it("a forged caller header never authenticates a host RPC or a routed call", async () => {
    const forged = signCallerHeader({ subject: "admin", method: "mtls", path: "/plugboard.v1.AdminService/ListRuntimes" }, Buffer.alloc(32));
    const { admin, registry } = h.t.clients("connect");
    expect(await codeOf(admin.listRuntimes({}, { headers: { "plugboard-caller": forged } }))).toBe(Code.Unauthenticated);
    // With a valid token too, the identity is the token's: still not an admin.
    expect(await codeOf(admin.listRuntimes({}, { headers: { authorization: `Bearer ${h.consumer.token}`, "plugboard-caller": forged } }))).toBe(Code.PermissionDenied);
    expect(await codeOf(registry.unregister({ registrationId: h.registrationId }, { headers: { authorization: `Bearer ${h.outsider.token}`, "plugboard-caller": forged } }))).toBe(Code.PermissionDenied);
    expect(await codeOf(h.kv().get({ key: "k" }, { headers: { "plugboard-caller": forged } }))).toBe(Code.Unauthenticated);
  });

  it("a grant header does not turn an outsider into the grant's holder on host RPCs", async () => {
    const { admin } = h.t.clients("connect");
    expect(await codeOf(admin.listRuntimes({}, { headers: { ...bearer(h.outsider.token).headers, "plugboard-grant": h.grant.grantToken } }))).toBe(Code.PermissionDenied);
  });
});
