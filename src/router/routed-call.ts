import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import type { Identity } from "../identity/index.js";
import { provenName } from "../identity/name-proof.js";
import { requestIdFrom } from "../audit/request-id.js";
import type { RoutedCallSpan } from "../tracing/router-span.js";
import { needsBridge } from "./bridge/protocols.js";
import type { CallCounts } from "./call-counts.js";
import type { CallPath } from "./call-path.js";
import type { CallerSigner } from "./caller-signer.js";
import type { ForwardRequest } from "./forward-request.js";
import type { OutlierDetector } from "./outlier-ejection.js";
import type { CallEndInfo, RouteTarget } from "./router.js";
import type { RetryTarget } from "./safe-retry.js";
import type { UpstreamPool, UpstreamTarget } from "./upstream-pool.js";
import type { WireProtocol } from "./wire-protocol.js";

/** What every routed call of one router shares (made once per router). */
export interface RoutedCallHooks {
  readonly pool: UpstreamPool;
  readonly signer: CallerSigner;
  resolve(serviceType: string, caller: Identity, pin: string | undefined): RouteTarget | Promise<RouteTarget>;
  /** The router's end hook (already guarded against throwing); undefined when nothing listens. */
  readonly onCallEnd: ((info: CallEndInfo) => void) | undefined;
  readonly onCallRetried: ((info: { service: string; method: string; from: string; to: string }) => void) | undefined;
}

/** What providers are told of the caller: a name only when it was proven (an unproven label could impersonate). */
export function signedClaims(caller: Identity): Identity {
  if (caller.pluginName === undefined || provenName(caller) !== undefined) return caller;
  const { pluginName: _unproven, ...rest } = caller;
  return rest;
}

/**
 * One routed call, from its HEADERS frame to its end: the request the router's callbacks see
 * (RoutedRequest), then the forward request (ForwardRequest) whose end it reports (metrics,
 * tracing, credential watch) and whose one safe retry it resolves. One object per call; its
 * callbacks are prototype methods, handed to forwarding as own properties (no closures per call).
 */
export class RoutedCall implements ForwardRequest {
  /** The call's request id once asked for (routedRequestId): audit records name it. */
  requestId?: string;
  // ForwardRequest: filled in by the router once the call is resolved.
  traceHeaders: Record<string, string> | undefined = undefined;
  target!: UpstreamTarget;
  path = "";
  callerHeader: string | undefined = undefined;
  timeoutMs: number | undefined = undefined;
  maxMessageBytes = 0;
  maxResponseMessageBytes = 0;
  onEnd: ((code: string) => void) | undefined = undefined;
  onSettled: (() => void) | undefined = undefined;
  outliers: OutlierDetector | undefined = undefined;
  /** The provider that has the call (a safe retry moves it). */
  runtimeId = "";
  inFlight: CallCounts | undefined = undefined;
  retarget: (() => Promise<RetryTarget | undefined>) | undefined = undefined;
  // The router's own view of the call.
  callPath!: CallPath;
  identity!: Identity;
  span: RoutedCallSpan | undefined = undefined;
  /** The provider is reached through the protocol bridge (a retry must keep that). */
  bridged = false;
  /** The call is over (forwarding said so): nothing may watch it any more. */
  settled = false;
  stopWatching: (() => void) | undefined = undefined;
  // The decision steps' state (router.ts).
  /** The caller's deadline in ms from `started`, as its headers said. */
  callerTimeoutMs: number | undefined = undefined;
  /** The call counts against maxPendingPerService until it is forwarded or refused. */
  pendingHeld = false;
  /** Tells the server limits the caller is proven. */
  authenticatedHook: (() => void) | undefined = undefined;
  /** The caller's `plugboard-provider` pin. */
  pin: string | undefined = undefined;

  constructor(
    private readonly hooks: RoutedCallHooks,
    readonly stream: ServerHttp2Stream,
    readonly headers: IncomingHttpHeaders,
    readonly protocol: WireProtocol,
    readonly started: number,
  ) {}

  /** Hands the call's end to the router's hook and span (as `onEnd`). */
  reportEnd(code: string): void {
    const { callPath, identity, runtimeId } = this;
    this.span?.end({ code, caller: identity.subject, runtimeId });
    const onCallEnd = this.hooks.onCallEnd;
    if (onCallEnd === undefined) return;
    const durationMs = performance.now() - this.started;
    onCallEnd(
      code === "ok"
        ? { service: callPath.service, method: callPath.method, caller: identity, code, durationMs, runtimeId }
        : { service: callPath.service, method: callPath.method, caller: identity, code, durationMs, runtimeId, requestId: (this.requestId ??= requestIdFrom(this.headers)) },
    );
  }

  /** The call is over (as `onSettled`): its credential watch stops. */
  settle(): void {
    this.settled = true;
    this.stopWatching?.();
  }

  /** The one safe retry (as `retarget`): another provider, unless it is the same one or speaks another protocol than the bytes kept for it. */
  async retargetOnce(): Promise<RetryTarget | undefined> {
    const { hooks, callPath, identity } = this;
    const from = this.runtimeId;
    const next = await hooks.resolve(callPath.service, identity, undefined);
    // The caller left while the next provider was looked up: the call is over, and so is its in-flight count.
    if (this.settled) return undefined;
    if (next.runtimeId === from || needsBridge(this.protocol, next.protocols) !== this.bridged) return undefined;
    this.runtimeId = next.runtimeId;
    hooks.onCallRetried?.({ service: callPath.service, method: callPath.method, from, to: next.runtimeId });
    return {
      target: hooks.pool.target(next.endpoint),
      runtimeId: next.runtimeId,
      callerHeader: hooks.signer.sign(signedClaims(identity), callPath.procedure, next.signingKey),
    };
  }
}
