import { describe, expect, it } from "vitest";
import { createReplayCache } from "../../../src/identity/replay-cache.js";

describe("replay cache", () => {
  it("reports a key seen before until it expires", () => {
    const cache = createReplayCache();
    expect(cache.claim("a", 2_000, 1_000)).toBe("fresh");
    expect(cache.claim("a", 2_000, 1_500)).toBe("replayed");
    expect(cache.claim("a", 3_000, 2_001)).toBe("fresh"); // the token has expired; exp checks refuse it anyway
  });

  it("stays within its bound and refuses rather than forgets live entries", () => {
    const cache = createReplayCache({ maxEntries: 2 });
    expect(cache.claim("a", 10_000, 0)).toBe("fresh");
    expect(cache.claim("b", 5_000, 0)).toBe("fresh");
    expect(cache.claim("c", 10_000, 1)).toBe("full");
    expect(cache.claim("a", 10_000, 2)).toBe("replayed");
    expect(cache.size).toBe(2);
    expect(cache.claim("c", 10_000, 6_000)).toBe("fresh"); // b expired and was swept
    expect(cache.size).toBe(2);
  });
});
