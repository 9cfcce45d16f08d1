import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. Default 5. */
  failureThreshold?: number;
  /** Successes in half-open state that close it again. Default 2. */
  successThreshold?: number;
  /** Time open before a trial call is let through. Default 10 s. */
  cooldownMs?: number;
  /** Codes that count as a failure of the provider (not of the request). Default Unavailable, DeadlineExceeded, Internal, Unknown. */
  failureCodes?: readonly Code[];
  now?: () => number;
}

export type BreakerState = "closed" | "open" | "half-open";

export interface CircuitBreaker {
  readonly state: BreakerState;
  /** Throws Unavailable while open; in half-open lets one trial call through at a time. */
  acquire(): void;
  onSuccess(): void;
  onFailure(err: unknown): void;
}

export function createCircuitBreaker(options: BreakerOptions = {}): CircuitBreaker {
  const failureThreshold = options.failureThreshold ?? 5;
  const successThreshold = options.successThreshold ?? 2;
  const cooldownMs = options.cooldownMs ?? 10_000;
  const failureCodes = new Set(options.failureCodes ?? [Code.Unavailable, Code.DeadlineExceeded, Code.Internal, Code.Unknown]);
  const now = options.now ?? Date.now;
  if (!(failureThreshold >= 1 && successThreshold >= 1 && cooldownMs >= 0)) throw new Error("circuit breaker: thresholds must be ≥ 1, cooldownMs ≥ 0");

  let state: BreakerState = "closed";
  let failures = 0;
  let successes = 0;
  let openedAt = 0;
  let trialInFlight = false;

  const open = () => {
    state = "open";
    openedAt = now();
    successes = 0;
    trialInFlight = false;
  };

  return {
    get state() {
      if (state === "open" && now() - openedAt >= cooldownMs) return "half-open";
      return state;
    },
    acquire() {
      if (state === "open") {
        const waited = now() - openedAt;
        if (waited < cooldownMs)
          throw new ConnectError(`circuit open after ${failureThreshold} failures; retry in ${cooldownMs - waited} ms`, Code.Unavailable);
        state = "half-open";
        successes = 0;
      }
      if (state === "half-open") {
        // One probe at a time: a struggling provider is not flooded the moment the cool-down ends.
        if (trialInFlight) throw new ConnectError("circuit half-open: a trial call is in flight", Code.Unavailable);
        trialInFlight = true;
      }
    },
    onSuccess() {
      failures = 0;
      if (state === "half-open") {
        trialInFlight = false;
        if (++successes >= successThreshold) state = "closed";
      }
    },
    onFailure(err) {
      if (!failureCodes.has(ConnectError.from(err).code)) {
        // The provider answered; the request was at fault. Not a sign of ill health.
        if (state === "half-open") trialInFlight = false;
        return;
      }
      if (state === "half-open") return open();
      if (++failures >= failureThreshold) open();
    },
  };
}

/**
 * Fails fast with Unavailable while the provider keeps failing. For streams only the start of the
 * call counts (connection refused, no provider), not errors in the middle of a stream.
 */
export function createCircuitBreakerInterceptor(breakerOrOptions: CircuitBreaker | BreakerOptions = {}): Interceptor {
  const breaker = "acquire" in breakerOrOptions ? breakerOrOptions : createCircuitBreaker(breakerOrOptions);
  return (next) => async (req) => {
    breaker.acquire();
    try {
      const res = await next(req);
      breaker.onSuccess();
      return res;
    } catch (e) {
      breaker.onFailure(e);
      throw e;
    }
  };
}
