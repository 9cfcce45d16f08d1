import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createSlots, headerListBytes } from "../../../src/server-limits/index.js";

describe("headerListBytes", () => {
  it("counts name + value + 32 per field, as RFC 9113 §6.5.2 does", () => {
    expect(headerListBytes([":method", "POST", "x-a", "bc"])).toBe(7 + 4 + 32 + 3 + 2 + 32);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string(), fc.string())), (fields) => {
        const expected = fields.reduce((n, [k, v]) => n + k.length + v.length + 32, 0);
        expect(headerListBytes(fields.flat())).toBe(expected);
      }),
    );
  });
});

describe("createSlots", () => {
  it("caps per key and in total, and a release (once) frees exactly one slot", () => {
    const slots = createSlots(2, 3);
    const a1 = slots.acquire("a");
    const a2 = slots.acquire("a");
    expect(slots.acquire("a")).toBe("perPeer");
    const b1 = slots.acquire("b");
    expect(slots.acquire("b")).toBe("total");
    expect(typeof a1 === "function" && typeof a2 === "function" && typeof b1 === "function").toBe(true);
    (a1 as () => void)();
    (a1 as () => void)(); // idempotent
    expect(slots.used).toBe(2);
    expect(typeof slots.acquire("b")).toBe("function");
    expect(slots.acquire("c")).toBe("total");
  });
});

describe("createSlots key tracking", () => {
  it("keeps a released key's zero count (no churn) but sweeps zeros once past sweepAbove: memory stays bounded", () => {
    const slots = createSlots(2, 10, 8);
    for (let i = 0; i < 100; i++) {
      expect(slots.take(`peer${i}`)).toBeUndefined();
      slots.give(`peer${i}`);
      expect(slots.keys).toBeLessThanOrEqual(9);
    }
    expect(slots.used).toBe(0);
    // A key still holding a slot is never swept; its cap still holds after sweeps.
    expect(slots.take("busy")).toBeUndefined();
    expect(slots.take("busy")).toBeUndefined();
    for (let i = 0; i < 50; i++) {
      slots.take(`other${i}`);
      slots.give(`other${i}`);
    }
    expect(slots.take("busy")).toBe("perPeer");
    slots.give("busy");
    expect(slots.take("busy")).toBeUndefined();
    expect(slots.used).toBe(2);
  });
});
