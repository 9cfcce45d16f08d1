import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PendingCounts } from "../../../src/metrics/pending-counts.js";

describe("pending counts", () => {
  it("hand over every count exactly once, however adds and drains interleave", () => {
    const step = fc.oneof(fc.tuple(fc.constantFrom("a", "b", "c"), fc.constantFrom("ok", "unavailable")), fc.constant("drain" as const));
    fc.assert(
      fc.property(fc.array(step, { maxLength: 200 }), (steps) => {
        const pending = new PendingCounts();
        const added = new Map<string, number>();
        const drained = new Map<string, number>();
        const drain = () =>
          pending.drain((first, second, n) => {
            expect(n).toBeGreaterThan(0);
            drained.set(`${first}/${second}`, (drained.get(`${first}/${second}`) ?? 0) + n);
          });
        for (const s of steps) {
          if (s === "drain") drain();
          else {
            pending.add(s[0], s[1]);
            added.set(`${s[0]}/${s[1]}`, (added.get(`${s[0]}/${s[1]}`) ?? 0) + 1);
          }
        }
        drain();
        expect(drained).toEqual(added);
      }),
    );
  });
});
