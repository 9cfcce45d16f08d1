/**
 * The reasons and edges of the identity primitives (SPIFFE IDs, name proof, replay cache): each
 * refusal says which rule the input broke, and each bound sits exactly where its name says.
 * Written against the survivors of `npm run mutate -- identity` (docs/testing.md).
 */
import { describe, expect, it } from "vitest";
import { MAX_SPIFFE_ID_BYTES, isValidTrustDomain, parseSpiffeId, trustDomainProblem } from "../../../src/identity/spiffe-id.js";
import { pluginNameFromSpiffeId, provenName, rateLimitKey, spiffePluginNames } from "../../../src/identity/name-proof.js";
import { createReplayCache } from "../../../src/identity/replay-cache.js";

const reason = (input: string): string => {
  const r = parseSpiffeId(input);
  if (r.ok) throw new Error(`${input} was accepted`);
  return r.reason;
};

describe("SPIFFE ID refusals name the rule broken", () => {
  it.each([
    ["https://td/a", "SPIFFE ID must start with spiffe://"],
    ["spiffe://td/a?x=1", "SPIFFE ID must not contain a query"],
    ["spiffe://td/a#f", "SPIFFE ID must not contain a fragment"],
    ["spiffe:///a", "trust domain is empty"],
    ["spiffe://td:8443/a", "trust domain must not contain a port"],
    ["spiffe://user@td/a", "trust domain must not contain user info"],
    ["spiffe://TD/a", "trust domain may contain only lowercase letters, digits, '.', '-' and '_'"],
    ["spiffe://td/a//b", "SPIFFE ID path segments must not be empty (no '//' or trailing '/')"],
    ["spiffe://td/a/", "SPIFFE ID path segments must not be empty (no '//' or trailing '/')"],
    ["spiffe://td/a/.", "SPIFFE ID path segments must not be '.' or '..'"],
    ["spiffe://td/../a", "SPIFFE ID path segments must not be '.' or '..'"],
    ["spiffe://td/a%2Fb", "SPIFFE ID path may contain only letters, digits, '.', '-', '_' and '/'"],
    ["spiffe://td/a b", "SPIFFE ID path may contain only letters, digits, '.', '-', '_' and '/'"],
  ])("%s: %s", (input, why) => {
    expect(reason(input)).toBe(why);
  });

  it("refuses a character outside the set even after valid ones, and reports the first problem", () => {
    expect(reason("spiffe://ab!/a")).toMatch(/may contain only lowercase/);
    expect(reason("spiffe://a:b@c/a")).toBe("trust domain must not contain a port");
    expect(trustDomainProblem("a@b:c")).toBe("trust domain must not contain user info");
  });

  it("counts the ID limit in UTF-8 bytes, not characters", () => {
    const exact = `spiffe://td/${"p".repeat(MAX_SPIFFE_ID_BYTES - "spiffe://td/".length)}`;
    expect(parseSpiffeId(exact).ok).toBe(true);
    // As many characters, but the last one takes two bytes: over the limit by one byte.
    const multiByte = `${exact.slice(0, -1)}é`;
    expect(multiByte.length).toBe(MAX_SPIFFE_ID_BYTES);
    expect(reason(multiByte)).toBe(`SPIFFE ID is longer than ${MAX_SPIFFE_ID_BYTES} bytes`);
  });

  it("counts the trust-domain limit in bytes and names it", () => {
    expect(trustDomainProblem("a".repeat(255))).toBeUndefined();
    expect(trustDomainProblem("a".repeat(256))).toBe("trust domain is longer than 255 bytes");
    expect(trustDomainProblem(`${"a".repeat(254)}é`)).toBe("trust domain is longer than 255 bytes");
    expect(isValidTrustDomain("example.org")).toBe(true);
    expect(isValidTrustDomain("")).toBe(false);
  });

  it("splits a trust-domain ID with an empty path", () => {
    expect(parseSpiffeId("spiffe://example.org")).toEqual({
      ok: true,
      value: { id: "spiffe://example.org", trustDomain: "example.org", path: "" },
    });
  });
});

describe("name proof edges", () => {
  it("proves no name without a name, whatever the method", () => {
    expect(provenName({ nameProof: "mtls" })).toBeUndefined();
    expect(provenName({ pluginName: "kv", nameProof: "jwt" })).toBe("kv");
  });

  it("maps only spiffe:// subjects, whatever their path", () => {
    expect(pluginNameFromSpiffeId("https://td/plugin/kv")).toBeUndefined();
    expect(pluginNameFromSpiffeId("spiffe:/x/plugin/kv")).toBeUndefined();
    expect(pluginNameFromSpiffeId("spiffe://td")).toBeUndefined();
  });

  it("does not read a name from a look-alike of the path prefix", () => {
    expect(pluginNameFromSpiffeId("spiffe://td/plugin-kv")).toBeUndefined();
    expect(pluginNameFromSpiffeId("spiffe://td/pluginskv")).toBeUndefined();
    expect(spiffePluginNames("/ns/a/")("spiffe://td/ns/b/kv")).toBeUndefined();
  });

  it("refuses a path prefix that does not both start and end with '/'", () => {
    expect(() => spiffePluginNames("/plugins")).toThrow(TypeError);
    expect(() => spiffePluginNames("plugins/")).toThrow("SPIFFE plugin path prefix must start and end with '/', e.g. /plugin/");
    expect(spiffePluginNames("/")("spiffe://td/kv")).toBe("kv");
  });

  it("keys an unproven runtime on its bound subject, else on its peer, else on 'unknown'", () => {
    const runtime = { kind: "runtime" as const, subject: "runtime:rt_1", pluginName: "kv", nameProof: "unproven" as const };
    expect(rateLimitKey({ ...runtime, boundSubject: "spiffe://td/ops" }, "127.0.0.1")).toBe("subject:spiffe://td/ops");
    expect(rateLimitKey(runtime, undefined)).toBe("peer:unknown");
    expect(rateLimitKey({ kind: "external", subject: "cn:ops", pluginName: "kv", nameProof: "mtls" }, "10.0.0.1")).toBe("name:kv");
  });
});

describe("replay cache edges", () => {
  it("refuses a bound that is not a positive integer", () => {
    for (const maxEntries of [0, -1, 1.5, Number.NaN]) {
      expect(() => createReplayCache({ maxEntries })).toThrow("replay cache: maxEntries must be a positive integer");
    }
    expect(createReplayCache({ maxEntries: 1 }).claim("a", 10, 0)).toBe("fresh");
  });

  it("forgets a key at its expiry instant, not one millisecond later", () => {
    const cache = createReplayCache();
    expect(cache.claim("a", 2_000, 1_000)).toBe("fresh");
    expect(cache.claim("a", 3_000, 1_999)).toBe("replayed");
    expect(cache.claim("a", 3_000, 2_000)).toBe("fresh");
  });

  it("sweeps expired entries once the sweep interval has passed, even when not full", () => {
    const cache = createReplayCache({ sweepIntervalMs: 1_000 });
    expect(cache.claim("a", 500, 0)).toBe("fresh");
    expect(cache.claim("b", 10_000, 999)).toBe("fresh");
    expect(cache.size).toBe(2); // a expired, but the interval has not passed
    expect(cache.claim("c", 10_000, 1_000)).toBe("fresh");
    expect(cache.size).toBe(2); // a swept exactly at the interval
  });

  it("waits a whole interval after each sweep before the next one", () => {
    const cache = createReplayCache({ sweepIntervalMs: 1_000 });
    expect(cache.claim("a", 1_200, 0)).toBe("fresh");
    expect(cache.claim("b", 10_000, 1_000)).toBe("fresh"); // sweeps; a is still live
    expect(cache.size).toBe(2);
    expect(cache.claim("c", 10_000, 1_500)).toBe("fresh"); // a has expired, but no sweep before 2 000
    expect(cache.size).toBe(3);
    expect(cache.claim("d", 10_000, 2_000)).toBe("fresh");
    expect(cache.size).toBe(3);
  });

  it("sweeps an entry expiring exactly now when full", () => {
    const cache = createReplayCache({ maxEntries: 1, sweepIntervalMs: 1_000_000 });
    expect(cache.claim("a", 500, 100)).toBe("fresh");
    expect(cache.claim("b", 1_000, 400)).toBe("full");
    expect(cache.claim("b", 1_000, 500)).toBe("fresh");
    expect(cache.size).toBe(1);
  });

  it("tells keys apart by their whole text", () => {
    const cache = createReplayCache();
    expect(cache.claim("jti-1", 10_000, 0)).toBe("fresh");
    expect(cache.claim("jti-2", 10_000, 0)).toBe("fresh");
    expect(cache.claim("jti-1", 10_000, 0)).toBe("replayed");
  });
});
