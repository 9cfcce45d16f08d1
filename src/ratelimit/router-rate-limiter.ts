import {
  BurstyRateLimiter,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from "rate-limiter-flexible";
import { createMemoryRateLimiter } from "./memory-budgets.js";

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
  /** The same decision when it can be made synchronously (budgets in this process' memory), else undefined: ask consume. */
  consumeNow?(callerKey: string, serviceType: string): RateDecision | undefined;
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

/** Redis failures seen by the insurance limiters; rate-limiter-flexible has no hook of its own for them. */
interface FallbackTracker {
  count: number;
  lastError: unknown;
}

/** The insurance limiter is only consulted when Redis failed, so each consume on it is one fallback. */
class InsuranceLimiter extends RateLimiterMemory {
  constructor(
    opts: ConstructorParameters<typeof RateLimiterMemory>[0],
    private readonly tracker: FallbackTracker,
  ) {
    super(opts);
  }
  override consume(key: string | number, points?: number, options?: { [key: string]: unknown }): Promise<RateLimiterRes> {
    this.tracker.count++;
    return super.consume(key, points, options);
  }
}

/** Remembers the Redis error that sent a call to the insurance limiter (the memory limiter never sees it). */
class ObservedRedisLimiter extends RateLimiterRedis {
  constructor(
    opts: ConstructorParameters<typeof RateLimiterRedis>[0],
    private readonly tracker: FallbackTracker,
  ) {
    super(opts);
  }
  // Not in the typings: the library's own error path, called with the store error before the insurance runs.
  _handleError(err: unknown, ...rest: unknown[]): void {
    if (!(err instanceof RateLimiterRes)) this.tracker.lastError = err;
    (RateLimiterRedis.prototype as unknown as { _handleError(...a: unknown[]): void })._handleError.call(this, err, ...rest);
  }
}

function makeLimiter(
  prefix: string,
  points: number,
  duration: number,
  redis: RateLimitRedisClient | undefined,
  tracker: FallbackTracker,
): RateLimiterAbstract {
  if (!redis) return new RateLimiterMemory({ keyPrefix: prefix, points, duration });
  const memory = new InsuranceLimiter({ keyPrefix: prefix, points, duration }, tracker);
  // Insurance: when Redis errors, the call is limited by this replica's own memory instead of failing.
  return new ObservedRedisLimiter({
    storeClient: redis,
    keyPrefix: prefix,
    points,
    duration,
    insuranceLimiter: memory,
    rejectIfRedisNotReady: true,
  }, tracker);
}

function makeConsumer(prefix: string, b: RateBudget, redis: RateLimitRedisClient | undefined, tracker: FallbackTracker): Consumer {
  const main = makeLimiter(prefix, b.points, b.durationSec, redis, tracker);
  const burst = b.burst ?? 0;
  if (burst === 0) return main;
  const burstLimiter = makeLimiter(
    `${prefix}:burst`,
    burst,
    b.burstDurationSec ?? b.durationSec * 10,
    redis,
    tracker,
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
  // Budgets in this process' memory are decided synchronously (same windows as RateLimiterMemory).
  if (!opts.redis) return createMemoryRateLimiter(opts.perCaller, opts.perService);
  const tracker: FallbackTracker = { count: 0, lastError: undefined };
  const perCaller = opts.perCaller ? makeConsumer(`${prefix}:caller`, opts.perCaller, opts.redis, tracker) : undefined;
  const perService = opts.perService ? makeConsumer(`${prefix}:service`, opts.perService, opts.redis, tracker) : undefined;
  let fallingBack = false;
  // Reports changes of state only: during an outage every call falls back, and one line says so.
  const observe = (before: number) => {
    const fellBack = tracker.count > before;
    if (fellBack === fallingBack) return;
    fallingBack = fellBack;
    try {
      opts.onFallback?.(fellBack ? { state: "fallback", error: tracker.lastError } : { state: "recovered" });
    } catch {
      // A throwing observer must not change the decision.
    }
  };
  const decide = async (callerKey: string, serviceType: string): Promise<RateDecision> => {
    if (perCaller) {
      const d = await attempt(perCaller, callerKey);
      if (!d.ok) return d;
    }
    if (perService) return attempt(perService, serviceType);
    return OK;
  };
  return {
    async consume(callerKey, serviceType) {
      const before = tracker.count;
      try {
        return await decide(callerKey, serviceType);
      } finally {
        if (opts.redis) observe(before);
      }
    },
    ...(opts.redis ? { fallbackCount: () => tracker.count } : {}),
  };
}
