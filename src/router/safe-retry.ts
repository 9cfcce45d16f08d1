import http2 from "node:http2";
import { DEFAULT_LIMITS } from "../protocol/constants.js";
import type { UpstreamTarget } from "./upstream-pool.js";

const { NGHTTP2_REFUSED_STREAM } = http2.constants;

/**
 * One safe retry (issue 20): a call no provider processed goes once to another provider. Where the
 * router is sure nothing was processed, short of any response from the provider:
 * - the provider reset the stream with REFUSED_STREAM, or sent GOAWAY with a last-stream-id below it
 *   (node reports both as REFUSED_STREAM): HTTP/2 (RFC 9113 §8.7) guarantees it was not processed;
 * - the connection was reset under the stream (ECONNRESET, EPIPE): the provider's kernel answered the
 *   call's bytes with a reset — its process was gone (killed while the pool still thought the session
 *   alive) or never read them. A provider that read the request and then died closes its connection
 *   with a FIN instead; that call is not retried (it may have been processed).
 * Pinned calls are never retried, and no call is retried twice.
 */
export function unprocessed(rstCode: number | undefined, streamErrorCode: string | undefined): boolean {
  return rstCode === NGHTTP2_REFUSED_STREAM || streamErrorCode === "ECONNRESET" || streamErrorCode === "EPIPE";
}

/** Where a retried call goes instead: chosen (and signed for) by the router. */
export interface RetryTarget {
  target: UpstreamTarget;
  runtimeId: string;
  /** Signed `plugboard-caller` for the new provider's key. */
  callerHeader: string | undefined;
}

/**
 * Request bytes kept (by reference) until the provider accepts the stream, so they can be replayed
 * to another one: the first message's worth (the request message limit; 4 MiB when it is disabled).
 * Past it, the call can no longer be retried.
 */
export function replayBudgetFor(maxMessageBytes: number): number {
  return 5 + (maxMessageBytes === Infinity ? DEFAULT_LIMITS.maxMessageBytes : maxMessageBytes);
}
