import { Counter, type Registry } from "prom-client";
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

/** Exports the limiter's fallback count as `plugboard_rate_limit_fallbacks_total` on the host's registry. */
export function exportFallbackCount(registry: Registry, fallbackCount: () => number, prefix = "plugboard_"): void {
  new Counter({
    name: `${prefix}rate_limit_fallbacks_total`,
    help: "Routed calls rate-limited from this host's memory because Redis failed",
    registers: [registry],
    collect() {
      // The limiter keeps the monotonic count; mirror it at scrape time.
      this.reset();
      const value = fallbackCount();
      if (value > 0) this.inc(value);
    },
  });
}
