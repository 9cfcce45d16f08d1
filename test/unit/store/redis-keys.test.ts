import { describe, expect, it } from "vitest";
import { createKeyLayout, keySlot } from "../../../src/store/redis-keys.js";

/** `redis-cli --cluster create` with three primaries splits the slots like this. */
const THREE_PRIMARIES = [
  [0, 5460],
  [5461, 10922],
  [10923, 16383],
] as const;
const primaryOf = (slot: number) => THREE_PRIMARIES.findIndex(([from, to]) => slot >= from && slot <= to);

describe("Redis key layout", () => {
  it("hashes keys as Redis Cluster does (CRC16 of the {tag})", () => {
    expect(keySlot("foo")).toBe(12182);
    expect(keySlot("somekey")).toBe(11058);
    expect(keySlot("{user1000}.following")).toBe(keySlot("{user1000}.followers"));
    expect(keySlot("{}x")).toBe(keySlot("{}x")); // an empty tag hashes the whole key
  });

  it("spreads the buckets evenly over the slot range, so over every primary", () => {
    const layout = createKeyLayout("plugboard:");
    const slots = layout.streams.map(keySlot);
    expect(new Set(slots).size).toBe(16);
    const perPrimary = [0, 0, 0];
    for (const slot of slots) perPrimary[primaryOf(slot)]!++;
    expect(Math.min(...perPrimary)).toBeGreaterThanOrEqual(5);
    slots.forEach((slot, i) => expect(Math.floor((slot * 16) / 16384)).toBe(i));
  });

  it("keeps each script's keys in one slot: a runtime's keys with its bucket's indexes and stream", () => {
    const layout = createKeyLayout("plugboard:");
    for (const id of ["rt_a", "rt_b", "rt_c", "rt_d"]) {
      const k = layout.runtime(id);
      const slots = new Set(layout.runtimeKeyList(k).map(keySlot));
      expect(slots.size).toBe(1);
      expect(keySlot(layout.streams[k.bucket]!)).toBe([...slots][0]);
    }
    const c = layout.credential("ab".repeat(32));
    expect(new Set([c.cred, c.credExp, c.events].map(keySlot)).size).toBe(1);
  });

  it("puts different owners in different buckets, the same owner always in the same one", () => {
    const layout = createKeyLayout("plugboard:");
    const buckets = new Set(Array.from({ length: 200 }, (_, i) => layout.runtime(`rt_${i}`).bucket));
    expect(buckets.size).toBe(16);
    expect(createKeyLayout("plugboard:").runtime("rt_7")).toEqual(layout.runtime("rt_7"));
    expect(layout.service("kv.v1.KV")).toBe(createKeyLayout("plugboard:").service("kv.v1.KV"));
  });

  it("a prefix that holds {…} keeps every key in that one slot", () => {
    const layout = createKeyLayout("{tenant}:");
    const keys = [...layout.streams, layout.global("epoch"), layout.runtime("x").rt, layout.credential("d").cred, layout.service("s")];
    expect(new Set(keys.map(keySlot)).size).toBe(1);
  });

  it("validates the bucket count", () => {
    expect(() => createKeyLayout("p:", 0)).toThrow(/buckets/);
    expect(() => createKeyLayout("p:", 1.5)).toThrow(/buckets/);
    expect(createKeyLayout("p:", 1).streams).toHaveLength(1);
  });
});
