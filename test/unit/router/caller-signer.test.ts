import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { signCallerHeader, verifyCallerHeader } from "../../../src/protocol/index.js";
import { createCallerSigner } from "../../../src/router/caller-signer.js";

const claimsArb = fc.record(
  { subject: fc.string(), method: fc.string(), runtimeId: fc.string(), pluginName: fc.string() },
  { requiredKeys: ["subject", "method"] },
);

describe("router caller signer", () => {
  it("property: identical to signCallerHeader for any claims, path, key (short, block-sized, long) and time", () => {
    const signer = createCallerSigner();
    fc.assert(
      fc.property(
        claimsArb,
        fc.string(),
        fc.uint8Array({ minLength: 0, maxLength: 100 }),
        fc.integer({ min: 0, max: 2 ** 45 }),
        (claims, path, keyBytes, now) => {
          const key = Buffer.from(keyBytes);
          // Twice: the second call runs on the cached body and key state.
          for (let i = 0; i < 2; i++) expect(signer.sign(claims, path, key, now)).toBe(signCallerHeader({ ...claims, path }, key, now));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("cached key state is not consumed by a call: many calls with one key all verify, other keys do not", () => {
    const signer = createCallerSigner();
    const key = Buffer.alloc(32, 9);
    const claims = { subject: "runtime:a", method: "token", runtimeId: "a", pluginName: "consumer" };
    for (let i = 0; i < 50; i++) {
      const value = signer.sign(claims, `/kv.v1.KVService/M${i}`, key);
      expect(verifyCallerHeader(value, key, `/kv.v1.KVService/M${i}`)).toMatchObject({ subject: "runtime:a", runtimeId: "a" });
      expect(verifyCallerHeader(value, Buffer.alloc(32, 8), `/kv.v1.KVService/M${i}`)).toBeUndefined();
    }
  });
});

describe("router caller signer cache", () => {
  it("one subject with changing other claims is re-encoded each time, never served a stale body", () => {
    const signer = createCallerSigner();
    const key = Buffer.alloc(32, 3);
    const variants = [
      { subject: "s", method: "token" },
      { subject: "s", method: "mtls" },
      { subject: "s", method: "mtls", runtimeId: "r" },
      { subject: "s", method: "mtls", runtimeId: "r", pluginName: "p" },
      { subject: "s", method: "mtls", pluginName: "p" },
      { subject: "s", method: "token" },
    ];
    for (const claims of [...variants, ...variants]) {
      expect(signer.sign(claims, "/a.B/C", key, 1000)).toBe(signCallerHeader({ ...claims, path: "/a.B/C" }, key, 1000));
    }
  });
});

describe("router caller signer header reuse", () => {
  it("reuses a header for identical calls within a second, then signs afresh; reused headers still verify", () => {
    const signer = createCallerSigner();
    const key = Buffer.alloc(32, 5);
    const caller = { subject: "runtime:rt_a", method: "token", runtimeId: "rt_a" };
    const first = signer.sign(caller, "/a.B/C", key, 10_000);
    expect(signer.sign(caller, "/a.B/C", key, 10_900)).toBe(first);
    expect(verifyCallerHeader(first, key, "/a.B/C", { now: 10_900 })).toMatchObject({ subject: "runtime:rt_a" });
    // Another path, another key or another caller never shares it.
    expect(signer.sign(caller, "/a.B/D", key, 10_900)).not.toBe(first);
    expect(signer.sign(caller, "/a.B/C", Buffer.alloc(32, 6), 10_900)).not.toBe(first);
    expect(signer.sign({ ...caller, subject: "runtime:rt_b" }, "/a.B/C", key, 10_900)).not.toBe(first);
    const later = signer.sign(caller, "/a.B/C", key, 11_000);
    expect(later).not.toBe(first);
    expect(later).toBe(signCallerHeader({ ...caller, path: "/a.B/C" }, key, 11_000));
  });
});
