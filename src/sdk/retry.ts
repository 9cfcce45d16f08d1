import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { retryDelayMs } from "../router/retry-info.js";
import { sendWithReplays } from "./replay.js";

export interface RetryOptions {
  /** Attempts in total, the first included. Default 3. */
  maxAttempts?: number;
  /** Backoff cap of the first retry. Default 100 ms. */
  initialDelayMs?: number;
  /** Largest backoff; a server asking for a longer wait ends the retries. Default 10 s. */
  maxDelayMs?: number;
  /** Growth of the backoff cap per attempt. Default 2. */
  multiplier?: number;
  /** Codes worth another attempt. Default Unavailable and ResourceExhausted. */
  retryableCodes?: readonly Code[];
  /** For tests: uniform random in [0, 1) and a sleep that honours the call's abort signal. */
  random?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface ResolvedRetryOptions {
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  multiplier: number;
  retryableCodes: ReadonlySet<Code>;
  random: () => number;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
}

export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(ConnectError.from(signal.reason ?? "aborted", Code.Canceled));
    const onAbort = () => {
      clearTimeout(timer);
      reject(ConnectError.from(signal.reason ?? "aborted", Code.Canceled));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

export function resolveRetryOptions(options: RetryOptions = {}): ResolvedRetryOptions {
  const r = {
    maxAttempts: options.maxAttempts ?? 3,
    initialDelayMs: options.initialDelayMs ?? 100,
    maxDelayMs: options.maxDelayMs ?? 10_000,
    multiplier: options.multiplier ?? 2,
    retryableCodes: new Set(options.retryableCodes ?? [Code.Unavailable, Code.ResourceExhausted]),
    random: options.random ?? Math.random,
    sleep: options.sleep ?? abortableSleep,
  };
  if (!Number.isInteger(r.maxAttempts) || r.maxAttempts < 1) throw new Error("retry: maxAttempts must be an integer ≥ 1");
  if (!(r.initialDelayMs >= 0) || !(r.maxDelayMs >= r.initialDelayMs)) throw new Error("retry: need 0 ≤ initialDelayMs ≤ maxDelayMs");
  if (!(r.multiplier >= 1)) throw new Error("retry: multiplier must be ≥ 1");
  return r;
}

/** Full jitter (AWS architecture blog): uniform in [0, min(max, initial · multiplier^retry)). */
export function backoffMs(retry: number, o: ResolvedRetryOptions): number {
  const cap = Math.min(o.maxDelayMs, o.initialDelayMs * o.multiplier ** retry);
  return Math.floor(o.random() * cap);
}

/**
 * The wait before the next attempt after `err`, or undefined when the call must not be retried.
 * A server-given delay (RetryInfo detail or retry-after) is a floor: retrying sooner is pointless.
 */
export function nextDelayMs(err: ConnectError, retry: number, o: ResolvedRetryOptions): number | undefined {
  if (!o.retryableCodes.has(err.code)) return undefined;
  const jitter = backoffMs(retry, o);
  const asked = err.code === Code.ResourceExhausted ? retryDelayMs(err) : undefined;
  if (asked === undefined) return jitter;
  if (asked > o.maxDelayMs) return undefined;
  return Math.max(asked, jitter);
}

/**
 * Retries failed calls with exponential backoff and full jitter. Only requests that can be sent
 * again (unary, server-streaming) are retried, and only while no response has started: an error
 * in the middle of a response stream goes to the caller.
 */
export function createRetryInterceptor(options: RetryOptions = {}): Interceptor {
  const o = resolveRetryOptions(options);
  return (next) => async (req) => {
    if (o.maxAttempts === 1) return next(req);
    return sendWithReplays(req, next, async (err, attempt) => {
      const delay = attempt < o.maxAttempts && !req.signal.aborted ? nextDelayMs(err, attempt - 1, o) : undefined;
      if (delay === undefined) return false;
      await o.sleep(delay, req.signal);
      return true;
    });
  };
}
