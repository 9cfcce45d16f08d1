import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { createAuditRing } from "../../../src/ops/audit-ring.js";

describe("audit ring", () => {
  it("keeps the newest `size` events, oldest first", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 60 }), (size, count) => {
        const ring = createAuditRing(size, () => 0);
        for (let i = 0; i < count; i++) ring.push({ event: `e${i}`, outcome: "success" });
        const expected = Array.from({ length: count }, (_, i) => `e${i}`).slice(-size);
        expect(ring.list().map((e) => e.event)).toEqual(expected);
      }),
    );
  });

  it("copies only audit fields", () => {
    const ring = createAuditRing(2, () => 7);
    ring.push({ event: "x", outcome: "failure", reason: "r", extra: "not kept" } as never);
    expect(ring.list()).toEqual([{ at: 7, event: "x", outcome: "failure", reason: "r" }]);
  });

  it("refuses a size that is not a positive integer", () => {
    expect(() => createAuditRing(0)).toThrow(/recentAuditEvents/);
  });
});
