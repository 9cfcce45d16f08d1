import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createLiveCount } from "../../src/store/live-count.js";
import { createOrderedIndex } from "../../src/store/ordered-index.js";

describe("createLiveCount", () => {
  it("property: always equals a recount of the runtimes whose expiry is after now, through puts, expiry changes, removals and time passing", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("set" as const), id: fc.integer({ min: 0, max: 5 }), expiresAt: fc.integer({ min: 0, max: 60 }) }),
      fc.record({ kind: fc.constant("remove" as const), id: fc.integer({ min: 0, max: 5 }) }),
      fc.record({ kind: fc.constant("tick" as const), by: fc.integer({ min: 0, max: 15 }) }),
      fc.record({ kind: fc.constant("count" as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const expiries = new Map<number, number>();
        const counter = createLiveCount();
        let now = 10;
        for (const o of ops) {
          if (o.kind === "set") {
            counter.changed(expiries.get(o.id), o.expiresAt, now);
            expiries.set(o.id, o.expiresAt);
          } else if (o.kind === "remove") {
            counter.changed(expiries.get(o.id), undefined, now);
            expiries.delete(o.id);
          } else if (o.kind === "tick") now += o.by;
          else {
            const expected = [...expiries.values()].filter((e) => e > now).length;
            expect(counter.count(now, () => expiries.values())).toBe(expected);
          }
        }
      }),
    );
  });
});

describe("createOrderedIndex", () => {
  it("property: pages and ranks agree with a sorted copy (code units), through adds and deletes", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.string({ maxLength: 3 })), { maxLength: 60 }), fc.string({ maxLength: 3 }), fc.nat(8), (ops, after, n) => {
        const index = createOrderedIndex();
        const model = new Set<string>();
        for (const [add, id] of ops) {
          if (add) (index.add("k", id), model.add(id));
          else (index.delete("k", id), model.delete(id));
        }
        const sorted = [...model].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        expect(index.after("k", undefined, 1000)).toEqual(sorted);
        expect(index.after("k", after, n)).toEqual(sorted.filter((id) => id > after).slice(0, n));
        expect(index.at("k", n, 3)).toEqual(sorted.slice(n, n + 3));
        expect(index.size("k")).toBe(sorted.length);
      }),
    );
  });
});
