import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { secretMatcher, secretsEqual } from "../../../src/tokens/secret-compare.js";

describe("secretMatcher", () => {
  it("answers exactly as secretsEqual against its fixed secret (equal strings only)", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (secret, presented) => {
        const matches = secretMatcher(secret);
        expect(matches(presented)).toBe(secret === presented);
        expect(matches(presented)).toBe(secretsEqual(presented, secret));
        expect(matches(secret)).toBe(true);
      }),
    );
  });
});
