import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createOutlierDetector, exportOutlierMetrics, type EjectionEvent } from "../../../src/router/outlier-ejection.js";

const providers = (...ids: string[]) => ids.map((runtimeId) => ({ runtimeId }));
const ids = (list: { runtimeId: string }[]) => list.map((p) => p.runtimeId);

function detector(opts = {}) {
  let t = 1_000_000;
  const ejections: EjectionEvent[] = [];
  const restored: string[] = [];
  const d = createOutlierDetector(opts, { now: () => t, onEject: (e) => ejections.push(e), onRestore: (id) => restored.push(id) });
  return { d, ejections, restored, advance: (ms: number) => (t += ms) };
}

describe("outlier ejection options", () => {
  it.each(["consecutiveFailures", "baseEjectionMs", "maxEjectionMs", "maxEjectedPercent", "hardFailureHoldMs"])(
    "%s must be a positive finite number",
    (name) => {
      for (const bad of [0, -1, Number.NaN, Infinity]) {
        expect(() => createOutlierDetector({ [name]: bad }), `${name}=${bad}`).toThrow(`outlierEjection.${name} must be a positive number`);
      }
    },
  );

  it("consecutiveFailures must be whole; maxEjectedPercent may be 100 but no more", () => {
    expect(() => createOutlierDetector({ consecutiveFailures: 2.5 })).toThrow("outlierEjection.consecutiveFailures must be an integer");
    expect(() => createOutlierDetector({ maxEjectedPercent: 100 })).not.toThrow();
    expect(() => createOutlierDetector({ maxEjectedPercent: 100.5 })).toThrow("outlierEjection.maxEjectedPercent must be at most 100");
    expect(() => createOutlierDetector({ baseEjectionMs: 0.5, maxEjectedPercent: 0.5 })).not.toThrow();
  });

  it("with no clock given, the real one is used: a hard failure takes the provider out now", () => {
    const d = createOutlierDetector();
    d.failure("a", true);
    expect(ids(d.filter(providers("a", "b")))).toEqual(["b"]);
    // No restore hook given: a restore is silent.
    d.success("a");
    expect(d.ejectedCount()).toBe(0);
  });
});

describe("outlier ejection events", () => {
  it("a hard failure: short hold, not counted as an ejection round; the reasons name what happened", () => {
    const { d, ejections, advance } = detector({ consecutiveFailures: 2, baseEjectionMs: 500, hardFailureHoldMs: 300 });
    d.failure("a", true);
    expect(ejections).toEqual([{ runtimeId: "a", reason: "connection failed", durationMs: 300, timesEjected: 0 }]);
    advance(300);
    d.failure("a", false);
    expect(ejections[1]).toEqual({ runtimeId: "a", reason: "failed its trial call", durationMs: 500, timesEjected: 1 });
    d.failure("b", false);
    d.failure("b", false);
    expect(ejections[2]).toEqual({ runtimeId: "b", reason: "2 consecutive failures", durationMs: 500, timesEjected: 1 });
    expect(d.ejectedCount()).toBe(2);
    expect(d.ejectionsTotal()).toBe(3);
  });

  it("fewer soft failures than the threshold eject nothing, and a success then forgets them (no restore event)", () => {
    const { d, ejections, restored } = detector({ consecutiveFailures: 3 });
    d.failure("a", false);
    d.failure("a", false);
    expect(ejections).toEqual([]);
    d.success("a");
    expect(restored).toEqual([]);
    expect(d.ejectedCount()).toBe(0);
    d.failure("a", false);
    d.failure("a", false);
    expect(ejections).toEqual([]);
    d.failure("a", false);
    expect(ejections).toHaveLength(1);
  });

  it("a failure at the very end of an ejection is a failed trial (ejected again, longer); one before it is in flight", () => {
    const { d, ejections, advance } = detector({ consecutiveFailures: 1, baseEjectionMs: 100, maxEjectionMs: 1000 });
    d.failure("a", false);
    advance(99);
    d.failure("a", false);
    expect(ejections).toHaveLength(1);
    advance(1);
    d.failure("a", false);
    expect(ejections.map((e) => [e.reason, e.durationMs])).toEqual([
      ["1 consecutive failures", 100],
      ["failed its trial call", 200],
    ]);
    expect(d.ejectedCount()).toBe(1);
  });

  it("success of a provider never seen failing, or with others failing, changes nothing", () => {
    const { d, restored } = detector();
    d.success("x");
    d.failure("a", true);
    d.success("x");
    expect(restored).toEqual([]);
    expect(d.ejectedCount()).toBe(1);
    d.success("a");
    expect(restored).toEqual(["a"]);
    expect(d.ejectedCount()).toBe(0);
  });
});

describe("outlier ejection filter", () => {
  it("the cap: floor(n × percent / 100), at least 1, at most n − 1, in candidate order", () => {
    const { d } = detector({ maxEjectedPercent: 30 });
    for (const id of ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]) d.failure(id, true);
    expect(ids(d.filter(providers("a", "b", "c", "d", "e", "f", "g", "h", "i", "j")))).toEqual(["d", "e", "f", "g", "h", "i", "j"]);
    expect(ids(d.filter(providers("a", "b", "c")))).toEqual(["b", "c"]);
    const all = detector({ maxEjectedPercent: 100 });
    for (const id of ["a", "b", "c"]) all.d.failure(id, true);
    expect(ids(all.d.filter(providers("a", "b", "c")))).toEqual(["c"]);
  });

  it("keeps healthy providers around ejected ones, in order", () => {
    const { d } = detector();
    d.failure("b", true);
    d.failure("d", true);
    expect(ids(d.filter(providers("a", "b", "c", "d", "e")))).toEqual(["a", "c", "e"]);
    const list = providers("a", "c");
    expect(d.filter(list)).toBe(list);
  });

  it("a provider whose ejection has ended is back in the list (for its trial)", () => {
    const { d, advance } = detector({ hardFailureHoldMs: 50 });
    d.failure("a", true);
    advance(49);
    expect(ids(d.filter(providers("a", "b")))).toEqual(["b"]);
    advance(1);
    expect(ids(d.filter(providers("a", "b")))).toEqual(["a", "b"]);
  });
});

describe("outlier ejection metrics", () => {
  it("exports the ejections so far and the providers out now, read at scrape time", async () => {
    const { d } = detector();
    const registry = new Registry();
    exportOutlierMetrics(registry, d);
    const value = async (name: string) => (await registry.getSingleMetric(name)!.get()).values[0]?.value;
    expect(await value("plugboard_provider_ejections_total")).toBe(0);
    expect(await value("plugboard_providers_ejected")).toBe(0);
    d.failure("a", true);
    d.failure("b", true);
    expect(await value("plugboard_provider_ejections_total")).toBe(2);
    // A second scrape reads the total again (no double counting).
    expect(await value("plugboard_provider_ejections_total")).toBe(2);
    expect(await value("plugboard_providers_ejected")).toBe(2);
    d.success("a");
    expect(await value("plugboard_providers_ejected")).toBe(1);
    const text = await registry.metrics();
    expect(text).toContain("# HELP plugboard_provider_ejections_total Providers taken out of rotation by passive outlier ejection");
    expect(text).toContain("# HELP plugboard_providers_ejected Providers out of rotation now (outlier ejection; trials pending)");
  });

  it("uses the given metric prefix", async () => {
    const registry = new Registry();
    exportOutlierMetrics(registry, detector().d, "pb_");
    expect(registry.getSingleMetric("pb_provider_ejections_total")).toBeDefined();
    expect(registry.getSingleMetric("pb_providers_ejected")).toBeDefined();
  });
});
