import { describe, expect, it } from "vitest";
import { CallCounts } from "../../../src/router/call-counts.js";

describe("CallCounts", () => {
  it("counts up and down, never below zero, and sweeps idle keys once it holds too many", () => {
    const c = new CallCounts(3);
    c.increment("a");
    c.increment("a");
    c.decrement("a");
    c.decrement("a");
    c.decrement("a");
    expect(c.get("a")).toBe(0);
    for (const k of ["b", "c", "d"]) (c.increment(k), c.decrement(k));
    // Adding "d" made 4 keys > 3: a, b, c (idle) went; d is idle now, e is new.
    c.increment("e");
    expect([...(c as unknown as { counts: Map<string, number> }).counts.keys()]).toEqual(["d", "e"]);
    expect(c.get("e")).toBe(1);
  });
});
