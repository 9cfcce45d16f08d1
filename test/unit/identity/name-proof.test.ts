import { describe, expect, it } from "vitest";
import { pluginNameFromSpiffeId, provenName, rateLimitKey, spiffePluginNames } from "../../../src/identity/name-proof.js";

describe("name proof", () => {
  it("provenName is the name only when it was proven", () => {
    expect(provenName({ pluginName: "kv", nameProof: "enrolment" })).toBe("kv");
    expect(provenName({ pluginName: "kv", nameProof: "mtls" })).toBe("kv");
    expect(provenName({ pluginName: "kv", nameProof: "unproven" })).toBeUndefined();
    expect(provenName({ pluginName: "kv" })).toBeUndefined(); // records from before names were proven
    expect(provenName(undefined)).toBeUndefined();
  });

  it.each([
    ["spiffe://td/plugin/kv", "kv"],
    ["spiffe://td/plugin/kv/extra", undefined],
    ["spiffe://td/plugin/", undefined],
    ["spiffe://td/admin", undefined],
    ["spiffe://td/workload/plugin/kv", undefined],
    ["cn:kv", undefined],
  ])("the default SPIFFE mapping reads %s as %s", (subject, name) => {
    expect(pluginNameFromSpiffeId(subject)).toBe(name);
  });

  it("maps another SPIFFE layout, and refuses a malformed prefix", () => {
    const names = spiffePluginNames("/ns/prod/plugins/");
    expect(names("spiffe://td/ns/prod/plugins/kv")).toBe("kv");
    expect(names("spiffe://td/plugin/kv")).toBeUndefined();
    expect(() => spiffePluginNames("plugins")).toThrow(/start and end with/);
  });

  it("keys rate limits on the proven name, else the subject, else the peer", () => {
    const runtime = { kind: "runtime" as const, subject: "runtime:rt_1", pluginName: "kv" };
    expect(rateLimitKey({ ...runtime, nameProof: "launch_secret" }, "127.0.0.1")).toBe("name:kv");
    expect(rateLimitKey({ ...runtime, nameProof: "unproven" }, "127.0.0.1")).toBe("peer:127.0.0.1");
    expect(rateLimitKey({ kind: "external", subject: "jwt:iss#ops" }, "10.0.0.1")).toBe("subject:jwt:iss#ops");
  });
});
