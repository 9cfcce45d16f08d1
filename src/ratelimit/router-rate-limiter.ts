import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import { createRedisBudgetSpender, type NamedBudget } from "./redis-budgets.js";

/**
 * An ioredis client, described by the one method rate-limiter-flexible needs to recognise it, so
 * that the root package's types do not depend on ioredis (an optional peer).
 */
export interface RateLimitRedisClient {
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number }): void;
}

/** A token-bucket-like budget: `points` calls per `durationSec`, plus `burst` extra points over a longer window. */
export interface RateBudget {
  points: number;
  durationSec: number;
  /** Extra calls allowed above `points` while the burst window lasts (default 0: no burst). */
  burst?: number;
  /** Window over which burst points recover (default 10 × durationSec). */
  burstDurationSec?: number;
}

export interface RouterRateLimiterOptions {
  /** Budget per authenticated caller (keyed by identity subject). */
  perCaller?: RateBudget;
  /** Budget per provided service type, summed over all callers (protects providers). */
  perService?: RateBudget;
  /** Share budgets between host replicas; an in-memory insurance limiter takes over while Redis fails. */
  redis?: RateLimitRedisClient;
  /** Key prefix in the shared store (default "pb:rl"). */
  keyPrefix?: string;
  /**
   * Told when calls start being limited by this replica's memory because Redis failed ("fallback", with
   * the Redis error) and when Redis answers again ("recovered"). Once per change, not once per call.
   */
  onFallback?: (event: FallbackEvent) => void;
}

export type FallbackEvent = { state: "fallback"; error: unknown } | { state: "recovered" };

export type RateDecision = { ok: true } | { ok: false; retryAfterMs: number };

export interface RouterRateLimiter {
  consume(callerKey: string, serviceType: string): Promise<RateDecision>;
  /** Decisions the in-memory insurance limiter made because Redis failed (Redis limiters only). */
  fallbackCount?(): number;
}

interface Consumer {
  consume(key: string, points?: number): Promise<RateLimiterRes>;
}

const OK: RateDecision = Object.freeze({ ok: true });

function validateBudget(name: string, b: RateBudget): void {
  const positiveInt = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v > 0;
  if (!positiveInt(b.points)) throw new Error(`ratelimit: ${name}.points must be a positive integer`);
  if (!positiveInt(b.durationSec)) throw new Error(`ratelimit: ${name}.durationSec must be a positive integer`);
  if (b.burst !== undefined && !(Number.isInteger(b.burst) && b.burst >= 0))
    throw new Error(`ratelimit: ${name}.burst must be a non-negative integer`);
  if (b.burstDurationSec !== undefined && !positiveInt(b.burstDurationSec))
    throw new Error(`ratelimit: ${name}.burstDurationSec must be a positive integer`);
}

function makeConsumer(prefix: string, b: RateBudget): Consumer {
  const main = new RateLimiterMemory({ keyPrefix: prefix, points: b.points, duration: b.durationSec });
  const burst = b.burst ?? 0;
  if (burst === 0) return main;
  const burstLimiter = new RateLimiterMemory({ keyPrefix: `${prefix}:burst`, points: burst, duration: b.burstDurationSec ?? b.durationSec * 10 });
  return new BurstyRateLimiter(main, burstLimiter);
}

async function attempt(limiter: Consumer, key: string): Promise<RateDecision> {
  try {
    await limiter.consume(key, 1);
    return OK;
  } catch (rejection) {
    // rate-limiter-flexible rejects with a RateLimiterRes when the budget is spent, with an Error when the store fails.
    if (rejection instanceof RateLimiterRes) {
      return { ok: false, retryAfterMs: Math.max(1, Math.ceil(rejection.msBeforeNext)) };
    }
    throw rejection;
  }
}

/**
 * Per-caller and per-service call budgets for the router. With no budget configured every call passes.
 * In memory by default; with `redis`, shared by every replica and spent in one script per call
 * (redis-budgets.ts), with this replica's memory as insurance while Redis fails.
 */
export function createRouterRateLimiter(opts: RouterRateLimiterOptions = {}): RouterRateLimiter {
  const prefix = opts.keyPrefix ?? "pb:rl";
  if (opts.perCaller) validateBudget("perCaller", opts.perCaller);
  if (opts.perService) validateBudget("perService", opts.perService);
  const perCaller = opts.perCaller ? makeConsumer(`${prefix}:caller`, opts.perCaller) : undefined;
  const perService = opts.perService ? makeConsumer(`${prefix}:service`, opts.perService) : undefined;
  let fallbacks = 0;
  /** `insurance`: Redis failed, so each budget spent here is one fallback decision. */
  const fromMemory = async (callerKey: string, serviceType: string, insurance = false): Promise<RateDecision> => {
    if (perCaller) {
      if (insurance) fallbacks++;
      const d = await attempt(perCaller, callerKey);
      if (!d.ok) return d;
    }
    if (perService) {
      if (insurance) fallbacks++;
      return attempt(perService, serviceType);
    }
    return OK;
  };
  if (!opts.redis || (!perCaller && !perService))
    return { consume: (callerKey, serviceType) => fromMemory(callerKey, serviceType), ...(opts.redis ? { fallbackCount: () => 0 } : {}) };

  const budgets: NamedBudget[] = [
    ...(opts.perCaller ? [{ prefix: `${prefix}:caller`, budget: opts.perCaller }] : []),
    ...(opts.perService ? [{ prefix: `${prefix}:service`, budget: opts.perService }] : []),
  ];
  const shared = createRedisBudgetSpender(opts.redis, budgets);
  let fallingBack = false;
  // Reports changes of state only: during an outage every call falls back, and one line says so.
  const observe = (fellBack: boolean, error?: unknown) => {
    if (fellBack === fallingBack) return;
    fallingBack = fellBack;
    try {
      opts.onFallback?.(fellBack ? { state: "fallback", error } : { state: "recovered" });
    } catch {
      // A throwing observer must not change the decision.
    }
  };
  return {
    async consume(callerKey, serviceType) {
      let error: unknown = new Error("Redis connection is not ready");
      if (shared.ready()) {
        try {
          const decision = await shared.spend([...(perCaller ? [callerKey] : []), ...(perService ? [serviceType] : [])]);
          observe(false);
          return decision;
        } catch (e) {
          error = e;
        }
      }
      // Insurance: limited by this replica's memory instead of failing the call.
      observe(true, error);
      return fromMemory(callerKey, serviceType, true);
    },
    fallbackCount: () => fallbacks,
  };
}
