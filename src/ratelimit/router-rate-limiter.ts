import {
  BurstyRateLimiter,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from "rate-limiter-flexible";
import type { Redis } from "ioredis";

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
  redis?: Redis;
  /** Key prefix in the shared store (default "pb:rl"). */
  keyPrefix?: string;
}

export type RateDecision = { ok: true } | { ok: false; retryAfterMs: number };

export interface RouterRateLimiter {
  consume(callerKey: string, serviceType: string): Promise<RateDecision>;
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

function makeLimiter(
  prefix: string,
  points: number,
  duration: number,
  redis: Redis | undefined,
): RateLimiterAbstract {
  const memory = new RateLimiterMemory({ keyPrefix: prefix, points, duration });
  if (!redis) return memory;
  // Insurance: when Redis errors, the call is limited by this replica's own memory instead of failing.
  return new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: prefix,
    points,
    duration,
    insuranceLimiter: memory,
    rejectIfRedisNotReady: true,
  });
}

function makeConsumer(prefix: string, b: RateBudget, redis: Redis | undefined): Consumer {
  const main = makeLimiter(prefix, b.points, b.durationSec, redis);
  const burst = b.burst ?? 0;
  if (burst === 0) return main;
  const burstLimiter = makeLimiter(
    `${prefix}:burst`,
    burst,
    b.burstDurationSec ?? b.durationSec * 10,
    redis,
  );
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

/** Per-caller and per-service call budgets for the router. With no budget configured every call passes. */
export function createRouterRateLimiter(opts: RouterRateLimiterOptions = {}): RouterRateLimiter {
  const prefix = opts.keyPrefix ?? "pb:rl";
  if (opts.perCaller) validateBudget("perCaller", opts.perCaller);
  if (opts.perService) validateBudget("perService", opts.perService);
  const perCaller = opts.perCaller ? makeConsumer(`${prefix}:caller`, opts.perCaller, opts.redis) : undefined;
  const perService = opts.perService ? makeConsumer(`${prefix}:service`, opts.perService, opts.redis) : undefined;
  return {
    async consume(callerKey, serviceType) {
      if (perCaller) {
        const d = await attempt(perCaller, callerKey);
        if (!d.ok) return d;
      }
      if (perService) return attempt(perService, serviceType);
      return OK;
    },
  };
}
