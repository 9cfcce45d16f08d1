import type { Logger } from "../log/logger.js";
import type { FallbackEvent } from "../ratelimit/index.js";

/**
 * Logs the shared limiter leaving and regaining Redis. While it is away each host
 * limits from its own memory, so a caller can get up to one budget per host.
 */
export function logRateLimitFallback(logger: Logger): (event: FallbackEvent) => void {
  return (event) => {
    if (event.state === "fallback")
      logger.warn(
        { err: event.error instanceof Error ? event.error.message : String(event.error) },
        "rate limiter: Redis failed; limiting from this host's memory until it is back",
      );
    else logger.info("rate limiter: Redis answers again; budgets are shared across hosts");
  };
}
