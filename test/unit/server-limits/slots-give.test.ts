import { describe, expect, it } from "vitest";
import { createSlots } from "../../../src/server-limits/slots.js";

/*
 * Review finding: `give` must only return a slot that is held. Given twice (or for a key holding none),
 * the total count went below zero, and the total cap then let one more stream in than it allows.
 */
describe("slots: give returns only held slots", () => {
  it("a second give of the same slot changes nothing", () => {
    const slots = createSlots(5, 2);
    expect(slots.take("a")).toBeUndefined();
    slots.give("a");
    slots.give("a");
    expect(slots.used).toBe(0);
    expect(slots.take("a")).toBeUndefined();
    expect(slots.take("b")).toBeUndefined();
    expect(slots.take("c")).toBe("total");
  });

  it("a give for a key that holds none leaves the others' counts alone", () => {
    const slots = createSlots(5, 1);
    expect(slots.take("a")).toBeUndefined();
    slots.give("never-took");
    expect(slots.used).toBe(1);
    expect(slots.take("b")).toBe("total");
  });
});
