import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { signCallerHeader, verifyCallerHeader } from "../../../src/protocol/index.js";

const key = Buffer.alloc(32, 1);
const otherKey = Buffer.alloc(32, 2);
const path = "/kv.v1.KVService/Get";
const now = 1_700_000_000_000;
const claims = { subject: "runtime:abc", method: "token", runtimeId: "abc", pluginName: "consumer", path };

describe("caller header", () => {
  it("round-trips claims for the same key and path", () => {
    const v = signCallerHeader(claims, key, now);
    expect(verifyCallerHeader(v, key, path, { now })).toEqual({ ...claims, issuedAtMs: now });
  });

  it("omits absent optional claims", () => {
    const v = signCallerHeader({ subject: "spiffe://x/y", method: "mtls", path }, key, now);
    const out = verifyCallerHeader(v, key, path, { now });
    expect(out).toEqual({ subject: "spiffe://x/y", method: "mtls", path, issuedAtMs: now });
    expect(out && "runtimeId" in out).toBe(false);
  });

  it("refuses the wrong key, the wrong path, expired and future headers", () => {
    const v = signCallerHeader(claims, key, now);
    expect(verifyCallerHeader(v, otherKey, path, { now })).toBeUndefined();
    expect(verifyCallerHeader(v, key, "/kv.v1.KVService/Put", { now })).toBeUndefined();
    expect(verifyCallerHeader(v, key, path, { now: now + 60_001 })).toBeUndefined();
    expect(verifyCallerHeader(v, key, path, { now: now + 60_000 })).toBeDefined();
    expect(verifyCallerHeader(v, key, path, { now: now + 5_000, maxAgeMs: 1_000 })).toBeUndefined();
    expect(verifyCallerHeader(v, key, path, { now: now - 10_000 })).toBeUndefined();
  });

  it("refuses missing and malformed values", () => {
    for (const v of [undefined, null, "", "v1", "v1.1.2", "v2.1.e30.AAAA", "x".repeat(5000), "v1.abc.e30.AAAA"]) {
      expect(verifyCallerHeader(v, key, path, { now })).toBeUndefined();
    }
  });

  it("property: any single-character change is refused", () => {
    const v = signCallerHeader(claims, key, now);
    fc.assert(
      fc.property(fc.nat({ max: v.length - 1 }), fc.string({ minLength: 1, maxLength: 1 }), (i, c) => {
        fc.pre(v[i] !== c);
        const tampered = v.slice(0, i) + c + v.slice(i + 1);
        return verifyCallerHeader(tampered, key, path, { now }) === undefined;
      }),
    );
  });

  it("property: arbitrary claims round-trip and never verify under another path", () => {
    fc.assert(
      fc.property(
        fc.record({ subject: fc.string(), method: fc.string(), runtimeId: fc.option(fc.string(), { nil: undefined }) }),
        fc.string(),
        (c, p) => {
          const input = { subject: c.subject, method: c.method, path, ...(c.runtimeId !== undefined ? { runtimeId: c.runtimeId } : {}) };
          const v = signCallerHeader(input, key, now);
          const out = verifyCallerHeader(v, key, path, { now });
          expect(out).toEqual({ ...input, issuedAtMs: now });
          if (p !== path) expect(verifyCallerHeader(v, key, p, { now })).toBeUndefined();
        },
      ),
    );
  });

  it("property: arbitrary strings never verify", () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => verifyCallerHeader(s, key, path, { now }) === undefined));
  });
});
