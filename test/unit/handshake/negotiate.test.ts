/** App protocol negotiation: the highest host version any offered range accepts, compared as semver. */
import { describe, expect, it } from "vitest";
import { negotiateVersion } from "../../../src/handshake/negotiate.js";

describe("negotiateVersion", () => {
  it("an empty offer takes the highest host version, compared as semver, not as text", () => {
    expect(negotiateVersion(["1.9.0", "1.10.0", "1.2.0"], [])).toBe("1.10.0");
  });

  it("picks the highest host version that satisfies any of the ranges", () => {
    expect(negotiateVersion(["1.9.0", "1.10.0", "2.0.0"], ["^1.0.0"])).toBe("1.10.0");
    expect(negotiateVersion(["1.9.0", "1.10.0", "2.0.0"], ["~1.9.0", "^3"])).toBe("1.9.0");
    expect(negotiateVersion(["1.9.0", "2.0.0"], ["^3", ">=1.5.0"])).toBe("2.0.0");
  });

  it("finds none when no range matches, and leaves the host's list as it was", () => {
    const host = ["1.0.0", "2.0.0"];
    expect(negotiateVersion(host, ["^3"])).toBeUndefined();
    expect(negotiateVersion(host, [])).toBe("2.0.0");
    expect(host).toEqual(["1.0.0", "2.0.0"]);
  });
});
