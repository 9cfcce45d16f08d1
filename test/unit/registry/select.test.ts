/**
 * Provider selection: each strategy over a candidate list (pick) and over the store's ordered index
 * (pickFrom), filters on version and health, and the registration-id order pages rely on.
 * Written against `npm run mutate -- registry` (docs/testing.md).
 */
import { describe, expect, it } from "vitest";
import { SelectionStrategy } from "../../../gen/plugboard/v1/registry_pb.js";
import { byRegistrationId, createSelector, matchingProviders, providerFilter, type PickSource } from "../../../src/registry/select.js";
import type { RegistrationRecord } from "../../../src/store/types.js";
import { registrationRecord } from "../../helpers/registration-record.js";

const reg = registrationRecord;
const ids = (rs: (RegistrationRecord | undefined)[]) => rs.map((r) => r?.registrationId);
const { FIRST, ROUND_ROBIN, RANDOM, WEIGHTED, UNSPECIFIED } = SelectionStrategy;

/** The store's index of one type, with a record of the reads made. */
const sourceOf = (all: RegistrationRecord[], matches: (r: RegistrationRecord) => boolean = () => true) => {
  const reads: [number, number][] = [];
  const source: PickSource = {
    count: async () => all.length,
    at: async (offset, limit) => {
      reads.push([offset, limit]);
      return all.slice(offset, offset + limit);
    },
    matches,
    allMatching: async () => all.filter(matches),
  };
  return { source, reads };
};

describe("pick from a candidate list", () => {
  const three = [reg("a"), reg("b"), reg("c")];

  it("none from no candidates, whatever the strategy", () => {
    for (const s of [UNSPECIFIED, FIRST, ROUND_ROBIN, RANDOM, WEIGHTED]) expect(createSelector().pick("t", [], s)).toBeUndefined();
  });

  it("first for FIRST and UNSPECIFIED", () => {
    expect(createSelector(() => 0.9).pick("t", three, FIRST)?.registrationId).toBe("a");
    expect(createSelector(() => 0.9).pick("t", three, UNSPECIFIED)?.registrationId).toBe("a");
  });

  it("round-robin: in turn, with one counter per service type", () => {
    const s = createSelector();
    expect(ids([1, 2, 3, 4].map(() => s.pick("t", three, ROUND_ROBIN)))).toEqual(["a", "b", "c", "a"]);
    expect(s.pick("other", three, ROUND_ROBIN)?.registrationId).toBe("a");
    expect(s.pick("t", three, ROUND_ROBIN)?.registrationId).toBe("b");
  });

  it("round-robin: a pick from no candidates does not move the turn on", async () => {
    const s = createSelector();
    expect(s.pick("t", [], ROUND_ROBIN)).toBeUndefined();
    expect(await s.pickFrom("t", sourceOf([]).source, ROUND_ROBIN)).toBeUndefined();
    expect(s.pick("t", three, ROUND_ROBIN)?.registrationId).toBe("a");
  });

  it("random ignores weights", () => {
    const uneven = [reg("a", { weight: 1 }), reg("b", { weight: 100 })];
    expect(createSelector(() => 0.4).pick("t", uneven, RANDOM)?.registrationId).toBe("a");
  });

  it("random: the candidate at the drawn fraction", () => {
    expect(createSelector(() => 0).pick("t", three, RANDOM)?.registrationId).toBe("a");
    expect(createSelector(() => 0.5).pick("t", three, RANDOM)?.registrationId).toBe("b");
    expect(createSelector(() => 0.99).pick("t", three, RANDOM)?.registrationId).toBe("c");
  });

  it("weighted: in proportion to weight, a weight of 0 counting as 1", () => {
    const weighted = [reg("light", { weight: 1 }), reg("heavy", { weight: 3 })];
    const at = (r: number) => createSelector(() => r).pick("t", weighted, WEIGHTED)?.registrationId;
    expect([at(0), at(0.24), at(0.25), at(0.99)]).toEqual(["light", "light", "heavy", "heavy"]);
    const zero = [reg("zero", { weight: 0 }), reg("one", { weight: 1 })];
    const z = (r: number) => createSelector(() => r).pick("t", zero, WEIGHTED)?.registrationId;
    expect([z(0.49), z(0.5)]).toEqual(["zero", "one"]);
  });

  it("weighted: a random source at its upper bound still picks the last candidate", () => {
    expect(createSelector(() => 1).pick("t", [reg("a", { weight: 2 }), reg("b", { weight: 2 })], WEIGHTED)?.registrationId).toBe("b");
  });
});

describe("pick from the store's index", () => {
  it("none from a type without providers, and none when no provider matches", async () => {
    for (const s of [FIRST, ROUND_ROBIN, RANDOM, WEIGHTED]) {
      expect(await createSelector().pickFrom("t", sourceOf([]).source, s)).toBeUndefined();
      expect(await createSelector().pickFrom("t", sourceOf([reg("a"), reg("b")], () => false).source, s)).toBeUndefined();
    }
  });

  it("FIRST: the first matching provider", async () => {
    const { source } = sourceOf([reg("a"), reg("b"), reg("c")], (r) => r.registrationId !== "a");
    expect((await createSelector().pickFrom("t", source, FIRST))?.registrationId).toBe("b");
  });

  it("round-robin: from the next rank on, skipping providers that do not match and wrapping around", async () => {
    const all = [reg("a"), reg("b"), reg("c"), reg("d")];
    const s = createSelector();
    const { source } = sourceOf(all, (r) => r.registrationId !== "b");
    const picks = [];
    for (let i = 0; i < 5; i++) picks.push(await s.pickFrom("t", source, ROUND_ROBIN));
    // Ranks 0..4: a, (b skipped) c, c, d, a.
    expect(ids(picks)).toEqual(["a", "c", "c", "d", "a"]);
  });

  it("random: from the drawn rank on, the last rank at most", async () => {
    const all = [reg("a"), reg("b"), reg("c")];
    expect((await createSelector(() => 0.5).pickFrom("t", sourceOf(all).source, RANDOM))?.registrationId).toBe("b");
    expect((await createSelector(() => 1).pickFrom("t", sourceOf(all).source, RANDOM))?.registrationId).toBe("c");
    expect((await createSelector(() => 0.9).pickFrom("t", sourceOf(all, (r) => r.registrationId === "a").source, RANDOM))?.registrationId).toBe("a");
  });

  it("weighted: a weighted draw over every matching provider", async () => {
    const all = [reg("a", { weight: 1 }), reg("b", { weight: 1 }), reg("c", { weight: 2 })];
    const { source } = sourceOf(all, (r) => r.registrationId !== "a");
    expect((await createSelector(() => 0.3).pickFrom("t", source, WEIGHTED))?.registrationId).toBe("b");
    expect((await createSelector(() => 0.4).pickFrom("t", source, WEIGHTED))?.registrationId).toBe("c");
  });

  it("reads in probes of 32 from the start rank, not the whole type", async () => {
    const all = Array.from({ length: 100 }, (_, i) => reg(`r${String(i).padStart(3, "0")}`));
    const { source, reads } = sourceOf(all, (r) => r.registrationId === "r050");
    expect((await createSelector().pickFrom("t", source, FIRST))?.registrationId).toBe("r050");
    expect(reads).toEqual([[0, 32], [32, 32]]);
    const wrap = sourceOf(all, (r) => r.registrationId === "r010");
    expect((await createSelector(() => 0.9).pickFrom("t", wrap.source, RANDOM))?.registrationId).toBe("r010");
    expect(wrap.reads).toEqual([[90, 10], [0, 32]]);
  });

  it("a type that shrinks while it is probed ends the probe", async () => {
    const all = [reg("a"), reg("b"), reg("c"), reg("d")];
    // The count says four, but the index now holds only two: the probe wraps once and ends.
    const source: PickSource = {
      count: async () => 4,
      at: async (offset, limit) => all.slice(0, 2).slice(offset, offset + limit),
      matches: (r) => r.registrationId === "b",
      allMatching: async () => [],
    };
    expect((await createSelector(() => 0.9).pickFrom("t", source, RANDOM))?.registrationId).toBe("b");
    const none: PickSource = { ...source, at: async () => [] };
    expect(await createSelector(() => 0.9).pickFrom("t", none, RANDOM)).toBeUndefined();
  });
});

describe("filters and order", () => {
  const all = [reg("c", { version: "1.2.0" }), reg("a", { version: "2.0.0" }), reg("b", { version: "1.0.0", health: 3 }), reg("d", { version: "1.1.0", health: 2 })];

  it("providerFilter: versions in range; unhealthy ones (3) only when asked for", () => {
    expect(all.filter(providerFilter("^1", false)).map((r) => r.registrationId)).toEqual(["c", "d"]);
    expect(all.filter(providerFilter("^1", true)).map((r) => r.registrationId)).toEqual(["c", "b", "d"]);
    expect(all.filter(providerFilter("*", false)).map((r) => r.registrationId)).toEqual(["c", "a", "d"]);
  });

  it("matchingProviders: the same filter, sorted by registration id", () => {
    expect(ids(matchingProviders(all, "^1", false))).toEqual(["c", "d"]);
    expect(ids(matchingProviders(all, "*", true))).toEqual(["a", "b", "c", "d"]);
  });

  it("byRegistrationId orders by code units", () => {
    const rs = [reg("b"), reg("B"), reg("a"), reg("a")];
    expect(ids([...rs].sort(byRegistrationId))).toEqual(["B", "a", "a", "b"]);
    expect(byRegistrationId(reg("a"), reg("a"))).toBe(0);
    expect(byRegistrationId(reg("a"), reg("b"))).toBe(-1);
    expect(byRegistrationId(reg("b"), reg("a"))).toBe(1);
  });
});
