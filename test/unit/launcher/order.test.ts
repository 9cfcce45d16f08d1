import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { dependencyLayers, orderByDependencies } from "../../../src/launcher/order.js";

const names = (specs: { name: string }[]) => specs.map((s) => s.name);

describe("orderByDependencies", () => {
  it("puts providers before the plugins requiring them, keeping input order otherwise", () => {
    const specs = [
      { name: "web", requires: ["kv.v1.KVService", "log.v1.Log"] },
      { name: "kv", provides: ["kv.v1.KVService"], requires: ["log.v1.Log"] },
      { name: "logger", provides: ["log.v1.Log"] },
      { name: "cron" },
    ];
    expect(names(orderByDependencies(specs))).toEqual(["logger", "cron", "kv", "web"]);
    expect(dependencyLayers(specs).map(names)).toEqual([["logger", "cron"], ["kv"], ["web"]]);
  });

  it("ignores requirements nobody listed provides, and a plugin requiring what it provides", () => {
    expect(names(orderByDependencies([{ name: "a", provides: ["x"], requires: ["x", "external"] }]))).toEqual(["a"]);
  });

  it("names the cycle", () => {
    const specs = [
      { name: "a", provides: ["A"], requires: ["B"] },
      { name: "b", provides: ["B"], requires: ["A"] },
    ];
    expect(() => orderByDependencies(specs)).toThrow("launcher: dependency cycle: a → b → a");
    expect(() =>
      orderByDependencies([{ name: "x", requires: ["C"] }, { name: "c", provides: ["C"], requires: ["D"] }, { name: "d", provides: ["D"], requires: ["C"] }]),
    ).toThrow("dependency cycle: c → d → c");
  });

  it("refuses duplicate names", () => {
    expect(() => orderByDependencies([{ name: "a" }, { name: "a" }])).toThrow(/listed twice/);
  });

  it("property: every acyclic graph is ordered with each provider first", () => {
    // Edges only from a higher index to a lower one: acyclic by construction, then shuffled.
    const graph = fc.integer({ min: 1, max: 8 }).chain((n) =>
      fc.tuple(
        fc.array(fc.array(fc.nat(n - 1), { maxLength: 3 }), { minLength: n, maxLength: n }),
        fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
      ),
    );
    fc.assert(
      fc.property(graph, ([deps, perm]) => {
        const specs = perm.map((i) => ({
          name: `p${i}`,
          provides: [`S${i}`],
          requires: deps[i]!.filter((d) => d < i).map((d) => `S${d}`),
        }));
        const order = names(orderByDependencies(specs));
        expect(order).toHaveLength(specs.length);
        for (const spec of specs)
          for (const need of spec.requires) expect(order.indexOf(`p${need.slice(1)}`)).toBeLessThan(order.indexOf(spec.name));
      }),
    );
  });
});
