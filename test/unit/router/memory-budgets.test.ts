import fc from "fast-check";
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createMemoryRateLimiter } from "../../../src/ratelimit/memory-budgets.js";
import type { RateBudget, RateDecision } from "../../../src/ratelimit/index.js";

/** The library's memory limiters, combined as the router's limiter combined them before (the reference). */
function reference(perCaller: RateBudget, perService: RateBudget) {
  const make = (b: RateBudget, prefix: string) => {
    const main = new RateLimiterMemory({ keyPrefix: prefix, points: b.points, duration: b.durationSec });
    if (!b.burst) return main;
    return new BurstyRateLimiter(main, new RateLimiterMemory({ keyPrefix: `${prefix}:burst`, points: b.burst, duration: b.burstDurationSec ?? b.durationSec * 10 }));
  };
  const callers = make(perCaller, "c");
  const services = make(perService, "s");
  const attempt = async (l: { consume(k: string, p?: number): Promise<RateLimiterRes> }, key: string): Promise<RateDecision> => {
    try {
      await l.consume(key, 1);
      return { ok: true };
    } catch (r) {
      return { ok: false, retryAfterMs: Math.max(1, Math.ceil((r as RateLimiterRes).msBeforeNext)) };
    }
  };
  return async (caller: string, service: string): Promise<RateDecision> => {
    const d = await attempt(callers, caller);
    return d.ok ? attempt(services, service) : d;
  };
}

const budget = fc.record({
  points: fc.integer({ min: 1, max: 4 }),
  durationSec: fc.integer({ min: 1, max: 3 }),
  burst: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
});

describe("in-memory router budgets (synchronous)", () => {
  afterEach(() => vi.useRealTimers());

  it("property: every decision and retry delay equals rate-limiter-flexible's memory limiters'", async () => {
    await fc.assert(
      fc.asyncProperty(
        budget,
        budget,
        fc.array(fc.record({ caller: fc.constantFrom("a", "b"), service: fc.constantFrom("s", "t"), advanceMs: fc.integer({ min: 0, max: 1_500 }) }), { maxLength: 40 }),
        async (perCaller, perService, calls) => {
          vi.useFakeTimers({ now: 1_000_000 });
          try {
            const ours = createMemoryRateLimiter(perCaller, perService);
            const theirs = reference(perCaller, perService);
            for (const call of calls) {
              vi.advanceTimersByTime(call.advanceMs);
              const expected = await theirs(call.caller, call.service);
              expect(ours.consumeNow!(call.caller, call.service)).toEqual(expected);
            }
          } finally {
            vi.useRealTimers();
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
