import { describe, expect, it } from "vitest";
import { createRouterRateLimiter } from "../../../src/ratelimit/index.js";

describe("createRouterRateLimiter", () => {
  it("passes everything without budgets", async () => {
    const rl = createRouterRateLimiter();
    for (let i = 0; i < 100; i++) expect(await rl.consume("a", "s")).toEqual({ ok: true });
  });

  it("limits per caller independently, with a retry delay inside the window", async () => {
    const rl = createRouterRateLimiter({ perCaller: { points: 2, durationSec: 1 } });
    expect((await rl.consume("a", "s")).ok).toBe(true);
    expect((await rl.consume("a", "s")).ok).toBe(true);
    const refused = await rl.consume("a", "s");
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(1000);
    }
    expect((await rl.consume("b", "s")).ok).toBe(true);
  });

  it("burst adds extra calls above the steady rate", async () => {
    const rl = createRouterRateLimiter({ perCaller: { points: 2, durationSec: 1, burst: 3 } });
    const results = [];
    for (let i = 0; i < 6; i++) results.push((await rl.consume("a", "s")).ok);
    expect(results).toEqual([true, true, true, true, true, false]);
  });

  it("limits a service across callers", async () => {
    const rl = createRouterRateLimiter({ perService: { points: 3, durationSec: 1 } });
    const results = [];
    for (const c of ["a", "b", "c", "d"]) results.push((await rl.consume(c, "svc")).ok);
    expect(results).toEqual([true, true, true, false]);
    expect((await rl.consume("d", "other")).ok).toBe(true);
  });

  it("validates budgets once", () => {
    expect(() => createRouterRateLimiter({ perCaller: { points: 0, durationSec: 1 } })).toThrow(/points/);
    expect(() => createRouterRateLimiter({ perService: { points: 1, durationSec: 1.5 } })).toThrow(/durationSec/);
  });
});
