import type { RateBudget, RateDecision, RouterRateLimiter } from "./router-rate-limiter.js";

const OK: RateDecision = Object.freeze({ ok: true });
/** Every this many calls, windows that ended are dropped (memory stays bounded by the live keys). */
const SWEEP_EVERY = 4096;

/**
 * rate-limiter-flexible's RateLimiterMemory window, decided synchronously: `points` per fixed
 * window of `durationMs` that starts with a key's first call after the previous one ended. Each
 * call takes a point even when refused (as the library counts).
 */
class FixedWindows {
  private readonly windows = new Map<string, { used: number; endsAt: number }>();
  private calls = 0;
  constructor(
    private readonly points: number,
    private readonly durationMs: number,
  ) {}

  /** Takes a point of `key`'s budget: -1 when within it, else ms until its window ends. */
  take(key: string, now: number): number {
    if (++this.calls % SWEEP_EVERY === 0) this.sweep(now);
    let window = this.windows.get(key);
    if (window === undefined || window.endsAt <= now) {
      window = { used: 0, endsAt: now + this.durationMs };
      this.windows.set(key, window);
    }
    window.used++;
    return window.used > this.points ? window.endsAt - now : -1;
  }

  private sweep(now: number): void {
    for (const [key, window] of this.windows) if (window.endsAt <= now) this.windows.delete(key);
  }
}

/** A budget with its optional burst (rate-limiter-flexible's BurstyRateLimiter: the burst is spent once the budget is). */
class Budget {
  private readonly main: FixedWindows;
  private readonly burst: FixedWindows | undefined;
  constructor(b: RateBudget) {
    this.main = new FixedWindows(b.points, b.durationSec * 1000);
    const burst = b.burst ?? 0;
    this.burst = burst === 0 ? undefined : new FixedWindows(burst, (b.burstDurationSec ?? b.durationSec * 10) * 1000);
  }

  take(key: string, now: number): RateDecision {
    const wait = this.main.take(key, now);
    if (wait < 0) return OK;
    const burstWait = this.burst === undefined ? -1 : this.burst.take(key, now);
    if (this.burst !== undefined && burstWait < 0) return OK;
    return { ok: false, retryAfterMs: Math.max(1, Math.ceil(this.burst === undefined ? wait : Math.min(wait, burstWait))) };
  }
}

/**
 * The router's limiter when budgets live in this process: the same decisions as the library's
 * memory limiters, made synchronously (no promise per call), so a routed call whose other
 * decisions are at hand is forwarded in the tick it arrived in.
 */
export function createMemoryRateLimiter(perCaller: RateBudget | undefined, perService: RateBudget | undefined): RouterRateLimiter {
  const callers = perCaller ? new Budget(perCaller) : undefined;
  const services = perService ? new Budget(perService) : undefined;
  const consumeNow = (callerKey: string, serviceType: string): RateDecision => {
    const now = Date.now();
    if (callers) {
      const d = callers.take(callerKey, now);
      if (!d.ok) return d;
    }
    return services ? services.take(serviceType, now) : OK;
  };
  return {
    consumeNow,
    consume: async (callerKey, serviceType) => consumeNow(callerKey, serviceType),
  };
}
