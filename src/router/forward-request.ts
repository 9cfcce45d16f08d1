import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import type { CallCounts } from "./call-counts.js";
import type { OutlierDetector } from "./outlier-ejection.js";
import type { RetryTarget } from "./safe-retry.js";
import type { UpstreamTarget } from "./upstream-pool.js";
import type { WireProtocol } from "./wire-protocol.js";

/**
 * One call to forward: everything the router decided before the bytes start moving. The callbacks
 * (`onEnd`, `onSettled`, `retarget`) are called as methods of this object, so a router may give one
 * object whose prototype has them (no closures per call).
 */
export interface ForwardRequest {
  /** `traceparent`/`tracestate` of the router's span, replacing the caller's (only when tracing is on). */
  traceHeaders?: Record<string, string> | undefined;
  stream: ServerHttp2Stream;
  headers: IncomingHttpHeaders;
  protocol: WireProtocol;
  target: UpstreamTarget;
  /** `:path` to send (procedure plus any query), before the target's path prefix is applied. */
  path: string;
  /** Signed `plugboard-caller` value; undefined forwards none (bare proxy). */
  callerHeader: string | undefined;
  /** Caller's deadline in ms from now; undefined for none. */
  timeoutMs: number | undefined;
  /** Largest request message (enveloped) or body (Connect unary); Infinity disables scanning. */
  maxMessageBytes: number;
  /** Largest response message (enveloped) or body (Connect unary); Infinity disables the limit. */
  maxResponseMessageBytes: number;
  /** Called once with "ok" or the Connect code name when the call ends. */
  onEnd: ((code: string) => void) | undefined;
  /** Called once when the call is over, however it ended (releases whatever may still cancel it). */
  onSettled?: (() => void) | undefined;
  /** Told how the provider fared (passive outlier ejection), keyed by `runtimeId`. */
  outliers?: OutlierDetector | undefined;
  runtimeId?: string;
  /** Calls in flight per provider runtime: this call's count is taken back when it ends. */
  inFlight?: CallCounts | undefined;
  /**
   * One safe retry (absent for pinned calls): another provider for a call the first one did not
   * process (src/router/safe-retry.ts); undefined when there is none. `target`, `runtimeId` and
   * `callerHeader` of this request are replaced with its answer.
   */
  retarget?: (() => Promise<RetryTarget | undefined>) | undefined;
}

/** Takes the call's in-flight count back (every way of forwarding calls it once, when the call ends). */
export function releaseInFlight(call: ForwardRequest): void {
  call.inFlight?.decrement(call.runtimeId ?? "");
}
