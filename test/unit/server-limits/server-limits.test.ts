import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { headerListBytes, peerKey, createSlots } from "../../../src/server-limits/index.js";

describe("peerKey", () => {
  it("keys IPv4 (also IPv4-mapped IPv6) by address", () => {
    expect(peerKey("10.0.0.7")).toBe("10.0.0.7");
    expect(peerKey("::ffff:10.0.0.7")).toBe("10.0.0.7");
    expect(peerKey(undefined)).toBe("unknown");
  });

  it("keys IPv6 by its /64, however it is written", () => {
    const key = peerKey("2001:db8:0:1::5");
    expect(key).toBe("2001:db8:0:1::/64");
    expect(peerKey("2001:0db8:0000:0001:ffff:ffff:ffff:ffff")).toBe(key);
    expect(peerKey("2001:DB8:0:1:0:0:0:9%eth0")).toBe(key);
    expect(peerKey("2001:db8:0:2::5")).not.toBe(key);
    expect(peerKey("::1")).toBe("0:0:0:0::/64");
  });
});

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
