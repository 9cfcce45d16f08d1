import type { RateDecision, RouterRateLimiter } from "./router-rate-limiter.js";

const UNLIMITED: RouterRateLimiter = { consume: () => Promise.resolve<RateDecision>({ ok: true }) };

/**
 * A rate limiter whose budgets can be replaced while the host runs (config reload). Budgets start afresh
 * with the new limiter: counts of the old one are dropped. Without budgets every call is allowed.
 */
export interface SwappableRateLimiter extends RouterRateLimiter {
  swap(next: RouterRateLimiter | undefined): void;
}

export function createSwappableRateLimiter(initial: RouterRateLimiter | undefined): SwappableRateLimiter {
  let current = initial ?? UNLIMITED;
  return {
    consume: (callerKey, serviceType) => current.consume(callerKey, serviceType),
    fallbackCount: () => current.fallbackCount?.() ?? 0,
    swap(next) {
      current = next ?? UNLIMITED;
    },
  };
}
