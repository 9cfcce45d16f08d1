import { describe, expect, it } from "vitest";
import { createOutlierDetector, type EjectionEvent } from "../../../src/router/outlier-ejection.js";

const providers = (...ids: string[]) => ids.map((runtimeId) => ({ runtimeId }));

function detector(opts = {}) {
  let t = 0;
  const ejections: EjectionEvent[] = [];
  const restored: string[] = [];
  const d = createOutlierDetector(opts, { now: () => t, onEject: (e) => ejections.push(e), onRestore: (id) => restored.push(id) });
  return { d, ejections, restored, advance: (ms: number) => (t += ms) };
}

describe("passive outlier ejection", () => {
  it("the healthy path returns the very same candidate list", () => {
    const { d } = detector();
    const list = providers("a", "b");
    d.success("a");
    expect(d.filter(list)).toBe(list);
  });

  it("a hard failure takes a provider out at once; a successful trial brings it back", () => {
    const { d, ejections, restored, advance } = detector();
    const list = providers("a", "b", "c");
    d.failure("a", true);
    expect(d.filter(list).map((p) => p.runtimeId)).toEqual(["b", "c"]);
    expect(ejections).toMatchObject([{ runtimeId: "a", reason: "connection failed", durationMs: 1000 }]);
    expect(d.ejectedCount()).toBe(1);
    advance(1000);
    expect(d.filter(list)).toHaveLength(3); // a trial
    d.success("a");
    expect(restored).toEqual(["a"]);
    expect(d.ejectedCount()).toBe(0);
  });

  it("N consecutive failures eject for base × times ejected, capped; in-flight failures do not escalate", () => {
    const { d, ejections, advance } = detector({ consecutiveFailures: 3, baseEjectionMs: 100, maxEjectionMs: 250 });
    for (let i = 0; i < 3; i++) d.failure("a", false);
    expect(ejections.map((e) => e.durationMs)).toEqual([100]);
    d.failure("a", false); // was in flight when it was ejected
    expect(ejections).toHaveLength(1);
    advance(100);
    d.failure("a", false); // its trial failed
    advance(200);
    d.failure("a", false);
    expect(ejections.map((e) => e.durationMs)).toEqual([100, 200, 250]);
    expect(d.ejectionsTotal()).toBe(3);
  });

  it("never ejects more than the allowed share, and at least one provider always stays", () => {
    const { d } = detector({ maxEjectedPercent: 50 });
    d.failure("a", true);
    d.failure("b", true);
    d.failure("c", true);
    expect(d.filter(providers("a", "b", "c", "d"))).toHaveLength(2);
    expect(d.filter(providers("a", "b"))).toHaveLength(1);
    expect(d.filter(providers("a"))).toHaveLength(1);
  });

  it("refuses invalid options by name", () => {
    expect(() => createOutlierDetector({ consecutiveFailures: 0 })).toThrow(/consecutiveFailures/);
    expect(() => createOutlierDetector({ maxEjectedPercent: 120 })).toThrow(/maxEjectedPercent/);
  });
});
