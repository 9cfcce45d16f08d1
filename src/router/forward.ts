import type { ConnectError } from "@connectrpc/connect";
import { ForwardedCall } from "./forwarded-call.js";
import type { ForwardRequest } from "./forward-request.js";
import type { UpstreamPool } from "./upstream-pool.js";

export { releaseInFlight, type ForwardRequest } from "./forward-request.js";

const NOTHING_TO_CANCEL = (): void => undefined;

/**
 * Forward one call as raw HTTP/2 frames: request bytes to the provider over its pooled session,
 * response headers, bytes and trailers back untouched. Payloads are never decoded; only envelope
 * prefixes are followed (size limit, clean error at a message boundary). Cancellation flows both
 * ways; provider failure becomes Unavailable in the caller's protocol. Returns `cancel(error)`, which
 * ends the call with that error (at a message boundary, else a reset): the caller's credential ended.
 * The call's state is one ForwardedCall (src/router/forwarded-call.ts) with shared listeners.
 */
export function forwardCall(pool: UpstreamPool, call: ForwardRequest): (error: ConnectError) => void {
  const forwarded = new ForwardedCall(pool, call);
  if (!forwarded.start()) return NOTHING_TO_CANCEL;
  return (error) => forwarded.cancel(error);
}
