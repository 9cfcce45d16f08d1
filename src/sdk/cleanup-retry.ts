import { Code, ConnectError } from "@connectrpc/connect";

/** First retry after this long, doubling up to CLEANUP_MAX_BACKOFF_MS: a store back from an outage is noticed within a quarter second. */
const CLEANUP_FIRST_BACKOFF_MS = 100;
const CLEANUP_MAX_BACKOFF_MS = 250;

/**
 * Runs a clean-up call (unregister, revoke) until it succeeds, fails for good, or `deadline` (ms
 * since epoch) passes. Only Unavailable and DeadlineExceeded are retried: a host whose store is
 * down answers Unavailable, and a registration left behind would be routed to once it is back.
 * Rejects with the last error.
 */
export async function retryCleanup<T>(call: (timeoutMs: number) => Promise<T>, deadline: number, now: () => number = Date.now): Promise<T> {
  let backoff = CLEANUP_FIRST_BACKOFF_MS;
  for (;;) {
    const left = deadline - now();
    try {
      return await call(Math.max(100, Math.min(2_000, left)));
    } catch (e) {
      const error = ConnectError.from(e);
      const retryable = error.code === Code.Unavailable || error.code === Code.DeadlineExceeded;
      if (!retryable || now() + backoff >= deadline) throw error;
    }
    await new Promise((r) => setTimeout(r, backoff));
    backoff = Math.min(CLEANUP_MAX_BACKOFF_MS, backoff * 2);
  }
}
