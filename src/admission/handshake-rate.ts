import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import { rateLimitedError } from "../router/retry-info.js";

export interface HandshakeRateOptions {
  /** Handshakes a peer may make per second, sustained. */
  perSecond: number;
  /** Extra handshakes a peer may make at once; they recover over 10 s. */
  burst: number;
}

export interface HandshakeRateLimiter {
  /** Spends one handshake of the peer's budget; throws ResourceExhausted with RetryInfo when none is left. */
  admit(peer: string): Promise<void>;
}

/**
 * Per-peer handshake budget, in this host's memory: a handshake costs the host a runtime record
 * and a token, so a stranger who knows the (public) cookie must not be able to mint them at line rate.
 */
export function createHandshakeRateLimiter(options: HandshakeRateOptions): HandshakeRateLimiter {
  const limiter = new BurstyRateLimiter(
    new RateLimiterMemory({ keyPrefix: "pb:hs", points: options.perSecond, duration: 1 }),
    new RateLimiterMemory({ keyPrefix: "pb:hs:burst", points: options.burst, duration: 10 }),
  );
  return {
    async admit(peer) {
      try {
        await limiter.consume(peer, 1);
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes)
          throw rateLimitedError(rejection.msBeforeNext, "too many handshakes from this peer (limits.handshakesPerSecond)");
        throw rejection;
      }
    },
  };
}
