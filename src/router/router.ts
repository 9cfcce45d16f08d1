import type { ClientHttp2Session, Http2ServerRequest, Http2ServerResponse, IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { requestIdFrom } from "../audit/request-id.js";
import { rateLimitKey } from "../identity/name-proof.js";
import { peerAddressOfSession } from "../admission/peer.js";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { Identity } from "../identity/index.js";
import type { Logger } from "../log/index.js";
import { DEFAULT_LIMITS, HEADER_PROVIDER } from "../protocol/index.js";
import type { RateDecision, RouterRateLimiter } from "../ratelimit/index.js";
import { parseCallPath, type CallPath } from "./call-path.js";
import { CallCounts } from "./call-counts.js";
import { createCallerSigner } from "./caller-signer.js";
import { writeErrorResponse } from "./error-response.js";
import { forwardCall } from "./forward.js";
import { RoutedCall, signedClaims, type RoutedCallHooks } from "./routed-call.js";
import { bridgeCall, bridgeRefusal, callerCodec, JsonCodec, needsBridge, type MethodSchema } from "./bridge/index.js";
import type { OutlierDetector } from "./outlier-ejection.js";
import { releaseRequest } from "./release-request.js";
import { rateLimitedError } from "./retry-info.js";
import { createUpstreamPool, type UpstreamTarget, type UpstreamTls } from "./upstream-pool.js";
import { callerTimeoutMs, detectProtocol, type WireProtocol } from "./wire-protocol.js";
import { startRoutedCallSpan, type RoutedCallSpan } from "../tracing/router-span.js";

/** Where a resolved call goes. */
export interface RouteTarget {
  runtimeId: string;
  registrationId: string;
  /** Provider base URL (http:// h2c or https://), may carry a path prefix. */
  endpoint: string;
  /** HMAC key the provider verifies the caller header with. */
  signingKey: Buffer;
  /** Protocol enum values the provider serves; absent or empty means gRPC only (the router translates). */
  protocols?: readonly number[];
}

export interface CallEndInfo {
  service: string;
  method: string;
  caller: Identity | undefined;
  /** "ok" or the Connect code name ("not_found", "resource_exhausted", ...). */
  code: string;
  durationMs: number;
  /** The provider runtime the call was forwarded to; absent for calls refused before resolution. */
  runtimeId?: string;
  /** The call's `plugboard-request-id` (a fresh id when it had none acceptable), for calls that did not end ok (audits). */
  requestId?: string;
}

/**
 * A routed call as the router's callbacks see it: its request headers and its HTTP/2 stream (the
 * connection and its TLS state are `stream.session.socket`). An Http2ServerRequest is one too.
 */
export interface RoutedRequest {
  readonly headers: IncomingHttpHeaders;
  readonly stream: ServerHttp2Stream;
  /** The call's request id once asked for (routedRequestId): audit records name it. */
  requestId?: string;
}

/** The call's `plugboard-request-id`, or a fresh one; the same each time it is asked (made only when needed: audits). */
export function routedRequestId(req: RoutedRequest): string {
  return (req.requestId ??= requestIdFrom(req.headers));
}


export interface RouterOptions {
  /*
   * The decision callbacks may answer synchronously when the answer is at hand (no promise, no
   * await: see route()); a refusal is then thrown, not returned as a rejected promise.
   */
  /** Identify the caller; throw ConnectError(Unauthenticated) for missing/bad credentials. */
  authenticate(req: RoutedRequest): Identity | Promise<Identity>;
  /** Throw ConnectError(PermissionDenied) when the caller may not call this method (`req`: routedRequestId for audit records). */
  authorize(caller: Identity, serviceType: string, method: string, req: RoutedRequest): void | Promise<void>;
  /** Pick a provider; `pin` is the caller's `plugboard-provider` header. Throw NotFound/Unavailable. */
  resolve(serviceType: string, caller: Identity, pin: string | undefined): RouteTarget | Promise<RouteTarget>;
  rateLimiter?: RouterRateLimiter;
  /** The rate-limit key of a caller; default its proven name, else subject, else peer address (identity/name-proof). */
  rateKey?(caller: Identity, req: RoutedRequest): string;
  /** Largest request message (streams: each message; Connect unary: the body). Default 4 MiB. */
  maxMessageBytes?: number;
  /** Largest response message (streams: each message; Connect unary: the body). Default 4 MiB; Infinity disables. */
  maxResponseMessageBytes?: number;
  /** TLS for https:// providers: CA, and the host's client certificate for mTLS. */
  upstreamTls?: UpstreamTls;
  logger?: Logger;
  /** Metrics hook, called once per call (including refused ones). */
  onCallEnd?(info: CallEndInfo): void;
  /** Called once a call is resolved to a provider, just before it is forwarded (in-flight tracking for drains). */
  onCallStart?(info: { service: string; method: string; runtimeId: string }): void;
  /** A call no provider processed moved to another provider (the one safe retry): in-flight tracking moves with it. */
  onCallRetried?(info: { service: string; method: string; from: string; to: string }): void;
  /** Routed calls forwarded to one provider runtime at once (default 1024): past it, ResourceExhausted + RetryInfo. */
  maxInFlightPerProvider?: number;
  /** Calls of one service awaiting authentication and resolution (default 4096): past it, Unavailable + RetryInfo. */
  maxPendingPerService?: number;
  /** Passive outlier ejection: told how each provider fared (the resolver leaves ejected ones out). */
  outliers?: OutlierDetector;
  /** The method's message types from the provider's registered descriptors: lets JSON cross the protocol bridge. */
  methodSchema?(registrationId: string, service: string, method: string): MethodSchema | undefined;
  /** Ends a forwarded call (Unauthenticated) when its caller's credential ends; returns "stop watching". */
  watchCaller?(caller: Identity, onEnd: (error: ConnectError) => void): () => void;
}

export interface Router {
  /** A routed call from an http2 compat request handler. */
  handle(req: Http2ServerRequest, res: Http2ServerResponse): void;
  /**
   * The same from a server's raw `'stream'` event, without the compat layer's request and response
   * objects (cheaper per call). `authenticated` is told once the caller is proven (server limits).
   */
  handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, authenticated?: () => void): void;
  /** Close pooled provider sessions (in-flight calls finish). */
  close(): Promise<void>;
}

/** Retry delays suggested with cap refusals: a moment, not a backoff (the cap clears as calls end). */
const PENDING_RETRY_MS = 1_000;
const IN_FLIGHT_RETRY_MS = 100;

/**
 * Whether a new session connects (false on error or close first): one promise per session, shared by
 * every call waiting for it (a burst of calls to a new provider adds three listeners, not three per call).
 */
const connecting = new WeakMap<ClientHttp2Session, Promise<boolean>>();
function connects(session: ClientHttp2Session): Promise<boolean> {
  let settled = connecting.get(session);
  if (settled === undefined) {
    settled = new Promise((resolve) => {
      const done = (ok: boolean) => () => {
        session.off("connect", onConnect);
        session.off("error", onFail);
        session.off("close", onFail);
        resolve(ok);
      };
      const onConnect = done(true);
      const onFail = done(false);
      session.once("connect", onConnect);
      session.once("error", onFail);
      session.once("close", onFail);
    });
    connecting.set(session, settled);
  }
  return settled;
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === "function";
}

/** Non-ConnectErrors from the callbacks are bugs or outages: never leak their text to callers. */
function asConnectError(e: unknown): ConnectError {
  if (e instanceof ConnectError) return e;
  return new ConnectError("internal error", Code.Internal);
}

/**
 * The routed-call handler: authenticate → authorize → rate limit → resolve → forward bytes.
 * Every refusal is written in the caller's own protocol.
 */
export function createRouter(opts: RouterOptions): Router {
  if (typeof opts.authenticate !== "function" || typeof opts.authorize !== "function" || typeof opts.resolve !== "function") {
    throw new Error("router: authenticate, authorize and resolve are required");
  }
  const maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_LIMITS.maxMessageBytes;
  if (!(Number.isInteger(maxMessageBytes) && maxMessageBytes > 0)) {
    throw new Error("router: maxMessageBytes must be a positive integer");
  }
  const maxResponseMessageBytes = opts.maxResponseMessageBytes ?? DEFAULT_LIMITS.maxResponseMessageBytes;
  if (!((Number.isInteger(maxResponseMessageBytes) && maxResponseMessageBytes > 0) || maxResponseMessageBytes === Infinity)) {
    throw new Error("router: maxResponseMessageBytes must be a positive integer or Infinity");
  }
  const maxInFlight = opts.maxInFlightPerProvider ?? DEFAULT_LIMITS.maxInFlightPerProvider;
  const maxPending = opts.maxPendingPerService ?? DEFAULT_LIMITS.maxPendingPerService;
  for (const [name, v] of Object.entries({ maxInFlightPerProvider: maxInFlight, maxPendingPerService: maxPending })) {
    if (!(Number.isInteger(v) && v > 0)) throw new Error(`router: ${name} must be a positive integer`);
  }
  // Caps that fail fast instead of queueing without bound: counts per provider runtime and per service.
  const inFlight = new CallCounts();
  const pending = new CallCounts();
  const pool = createUpstreamPool(opts.upstreamTls ? { tls: opts.upstreamTls } : {});
  const signer = createCallerSigner();
  const { authenticate, authorize, resolve, rateLimiter, logger } = opts;
  // A caller's key follows from its (immutable) identity unless it is its peer address: kept per identity object.
  const rateKeys = new WeakMap<Identity, string>();
  const rateKeyOf =
    opts.rateKey ??
    ((caller: Identity, req: RoutedRequest) => {
      let key = rateKeys.get(caller);
      if (key !== undefined) return key;
      key = rateLimitKey(caller, peerAddressOfSession(req.stream.session));
      if (!key.startsWith("peer:")) rateKeys.set(caller, key);
      return key;
    });
  // Parsed call paths by `:path` (callers repeat a few procedures); a full map starts afresh.
  const callPaths = new Map<string, CallPath>();
  const callPathOf = (rawPath: string | undefined): CallPath | ConnectError => {
    const known = rawPath === undefined ? undefined : callPaths.get(rawPath);
    if (known !== undefined) return known;
    const parsed = parseCallPath(rawPath);
    if (!(parsed instanceof ConnectError)) {
      if (callPaths.size >= 1024) callPaths.clear();
      callPaths.set(parsed.rawPath, parsed);
    }
    return parsed;
  };
  // A throwing metrics hook must not take a call (or the process) down with it.
  const hook = opts.onCallEnd;
  const onCallEnd = hook
    ? (info: CallEndInfo) => {
        try {
          hook(info);
        } catch (e) {
          logger?.warn({ err: e }, "router: onCallEnd hook threw");
        }
      }
    : undefined;

  const hooks: RoutedCallHooks = { pool, signer, resolve, onCallEnd, onCallRetried: opts.onCallRetried };

  function refuse(
    req: RoutedRequest,
    protocol: WireProtocol,
    err: ConnectError,
    path: CallPath | undefined,
    caller: Identity | undefined,
    started: number,
    span?: RoutedCallSpan,
  ): void {
    writeErrorResponse(req.stream, protocol, req.headers["content-type"], err);
    // What the caller still sends will not be forwarded: drain it. (No reset here: with one, the
    // Redis-outage recovery in test/integration/multihost/two-hosts.test.ts failed about 1 run in 6.)
    releaseRequest(req.stream, false);
    span?.end({ code: codeToString(err.code), caller: caller?.subject });
    onCallEnd?.({
      service: path?.service ?? "",
      method: path?.method ?? "",
      caller,
      code: codeToString(err.code),
      durationMs: performance.now() - started,
      requestId: routedRequestId(req),
    });
  }

  /*
   * The decision steps may answer synchronously (values known locally: cached identity, declared
   * requires, providers, an in-memory rate limit); a step waits only when it returned a promise, so
   * a call whose answers are all at hand is forwarded in the tick its HEADERS frame arrived in. The
   * steps are functions of the router taking the call (its state lives on the RoutedCall): no async
   * function, promise or closure per call unless a step really has to wait.
   * authenticate → authorize → rate limit → oversize check → resolve → (new session connects) → forward.
   */
  function route(call: RoutedCall, authenticated: (() => void) | undefined): void {
    const service = call.callPath.service;
    let identity: Identity | Promise<Identity>;
    try {
      if (pending.get(service) >= maxPending) {
        throw rateLimitedError(PENDING_RETRY_MS, `${service}: ${maxPending} calls already pending (maxPendingPerService)`, Code.Unavailable);
      }
      pending.increment(service);
      call.pendingHeld = true;
      call.authenticatedHook = authenticated;
      identity = authenticate(call);
    } catch (e) {
      return refused(call, e);
    }
    if (isPromise(identity)) identity.then((proven) => authorizeStep(call, proven), (e: unknown) => refused(call, e));
    else authorizeStep(call, identity);
  }

  function authorizeStep(call: RoutedCall, identity: Identity): void {
    let allowed: void | Promise<void>;
    try {
      call.identity = identity;
      call.authenticatedHook?.();
      allowed = authorize(identity, call.callPath.service, call.callPath.method, call);
    } catch (e) {
      return refused(call, e);
    }
    if (isPromise(allowed)) allowed.then(() => rateLimitStep(call), (e: unknown) => refused(call, e));
    else rateLimitStep(call);
  }

  function rateLimitStep(call: RoutedCall): void {
    if (!rateLimiter) return resolveStep(call, undefined);
    let decision: RateDecision | undefined;
    try {
      const key = rateKeyOf(call.identity, call);
      decision = rateLimiter.consumeNow?.(key, call.callPath.service);
      if (decision === undefined) {
        rateLimiter.consume(key, call.callPath.service).then(
          (d) => resolveStep(call, d),
          (e: unknown) => {
            logger?.error({ err: e }, "router: rate limiter store failed");
            refused(call, new ConnectError("rate limiter unavailable", Code.Unavailable));
          },
        );
        return;
      }
    } catch (e) {
      return refused(call, e);
    }
    resolveStep(call, decision);
  }

  /** `decision`: the rate limiter's (undefined without one). */
  function resolveStep(call: RoutedCall, decision: RateDecision | undefined): void {
    let target: RouteTarget | Promise<RouteTarget>;
    try {
      if (decision !== undefined && !decision.ok) throw rateLimitedError(decision.retryAfterMs);
      // A declared oversize unary body is refused before any provider is involved.
      if (call.protocol === "connect-unary" && Number(call.headers["content-length"] ?? 0) > maxMessageBytes) {
        throw new ConnectError(`request message larger than ${maxMessageBytes} bytes`, Code.ResourceExhausted);
      }
      const pinHeader = call.headers[HEADER_PROVIDER];
      call.pin = Array.isArray(pinHeader) ? pinHeader[0] : pinHeader;
      target = resolve(call.callPath.service, call.identity, call.pin);
    } catch (e) {
      return refused(call, e);
    }
    if (isPromise(target)) target.then((resolved) => connectStep(call, resolved), (e: unknown) => refused(call, e));
    else connectStep(call, target);
  }

  /*
   * One safe retry: a provider we could not even connect to has seen no byte of the call, so it
   * goes once to another provider (never a pinned call). Only new sessions wait here.
   */
  function connectStep(call: RoutedCall, target: RouteTarget): void {
    let upstreamTarget: UpstreamTarget;
    let session: ClientHttp2Session;
    try {
      upstreamTarget = pool.target(target.endpoint);
      session = pool.session(upstreamTarget);
    } catch (e) {
      return refused(call, e);
    }
    if (!session.connecting) return forwardStep(call, target, upstreamTarget, false);
    connects(session).then(
      (ok) => (ok ? forwardStep(call, target, upstreamTarget, false) : connectFailed(call, target, upstreamTarget)),
      (e: unknown) => refused(call, e),
    );
  }

  function connectFailed(call: RoutedCall, failed: RouteTarget, failedUpstream: UpstreamTarget): void {
    let next: RouteTarget | Promise<RouteTarget>;
    try {
      opts.outliers?.failure(failed.runtimeId, true);
      pool.discard(failedUpstream);
      if (call.pin !== undefined) return forwardStep(call, failed, failedUpstream, false);
      next = resolve(call.callPath.service, call.identity, call.pin);
    } catch (e) {
      return refused(call, e);
    }
    const retried = (target: RouteTarget) => {
      let upstreamTarget: UpstreamTarget;
      try {
        upstreamTarget = pool.target(target.endpoint);
      } catch (e) {
        return refused(call, e);
      }
      forwardStep(call, target, upstreamTarget, true);
    };
    if (isPromise(next)) next.then(retried, (e: unknown) => refused(call, e));
    else retried(next);
  }

  function forwardStep(call: RoutedCall, target: RouteTarget, upstreamTarget: UpstreamTarget, retried: boolean): void {
    try {
      const { protocol, callPath: path, identity: caller } = call;
      // A provider that does not serve the caller's protocol gets gRPC (translated); only binary payloads cross.
      const bridged = needsBridge(protocol, target.protocols);
      let json: JsonCodec | undefined;
      if (bridged && callerCodec(protocol, call.headers, path.rawPath) !== "proto") {
        // JSON crosses only with the provider's schema (its registration's descriptors).
        const schema = callerCodec(protocol, call.headers, path.rawPath) === "json" ? opts.methodSchema?.(target.registrationId, path.service, path.method) : undefined;
        if (!schema) throw bridgeRefusal(protocol, call.headers, path.rawPath, path.service)!;
        json = new JsonCodec(schema);
      }
      const stream = call.stream;
      // The caller may have given up while we were deciding.
      if (stream.destroyed || stream.closed) return releasePending(call);
      if (inFlight.get(target.runtimeId) >= maxInFlight) {
        throw rateLimitedError(IN_FLIGHT_RETRY_MS, `provider of ${path.service} has ${maxInFlight} calls in flight (maxInFlightPerProvider)`);
      }
      const callerHeader = signer.sign(signedClaims(caller), path.procedure, target.signingKey);
      opts.onCallStart?.({ service: path.service, method: path.method, runtimeId: target.runtimeId });
      // The call itself is the forward request; its callbacks are its prototype methods (routed-call.ts).
      call.bridged = bridged;
      call.traceHeaders = call.span?.upstreamHeaders;
      call.target = upstreamTarget;
      call.path = path.rawPath;
      call.callerHeader = callerHeader;
      const timeoutMs = call.callerTimeoutMs;
      call.timeoutMs = timeoutMs === undefined ? undefined : Math.max(1, timeoutMs - (performance.now() - call.started));
      call.maxMessageBytes = maxMessageBytes;
      call.maxResponseMessageBytes = maxResponseMessageBytes;
      if (onCallEnd || call.span) call.onEnd = call.reportEnd;
      // Always: a safe retry looks at it (a call that ended while its next provider was looked up is not moved).
      call.onSettled = call.settle;
      call.outliers = opts.outliers;
      call.runtimeId = target.runtimeId;
      call.inFlight = inFlight;
      // The one safe retry, if not spent already: a call the provider did not process (forward.ts decides) goes elsewhere.
      if (call.pin === undefined && !retried && json === undefined) call.retarget = call.retargetOnce;
      // Counted only now: a throw above (signing, the onCallStart hook) refuses the call without a count to give back.
      inFlight.increment(target.runtimeId);
      const cancel = bridged ? bridgeCall(pool, call, json) : forwardCall(pool, call);
      // The call ends when the caller's credential does (no AbortController: it costs ~20 µs a call).
      if (opts.watchCaller && !call.settled) call.stopWatching = opts.watchCaller(caller, cancel);
    } catch (e) {
      return refused(call, e);
    }
    releasePending(call);
  }

  /** The call is past its decision (forwarded, refused or gone): it no longer counts as pending. */
  function releasePending(call: RoutedCall): void {
    if (!call.pendingHeld) return;
    call.pendingHeld = false;
    pending.decrement(call.callPath.service);
  }

  /** A decision step failed: the caller gets the error in its protocol. */
  function refused(call: RoutedCall, e: unknown): void {
    const err = asConnectError(e);
    const path = call.callPath;
    if (err.code === Code.Internal && !(e instanceof ConnectError)) {
      logger?.error({ err: e, service: path.service, method: path.method }, "router: call failed before forwarding");
    }
    try {
      refuse(call, call.protocol, err, path, call.identity as Identity | undefined, call.started, call.span);
    } finally {
      releasePending(call);
    }
  }

  function handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, authenticated?: () => void): void {
    const started = performance.now();
    const protocol = detectProtocol(headers["content-type"], headers[":method"]);
    if (protocol === undefined) {
      // Not an RPC: answer like connect-es does for unknown media types.
      if (!stream.destroyed) {
        stream.respond({ ":status": 415 }, { endStream: true });
        stream.resume();
      }
      return;
    }
    const call = new RoutedCall(hooks, stream, headers, protocol, started);
    const path = callPathOf(headers[":path"]);
    if (path instanceof ConnectError) return refuse(call, protocol, path, undefined, undefined, started);
    const timeoutMs = callerTimeoutMs(protocol, headers);
    if (timeoutMs instanceof ConnectError) return refuse(call, protocol, timeoutMs, path, undefined, started);
    call.callPath = path;
    call.callerTimeoutMs = timeoutMs;
    // Undefined unless an OpenTelemetry SDK is installed (then the caller's trace headers pass through untouched).
    call.span = startRoutedCallSpan(headers, path.service, path.method);
    route(call, authenticated);
  }

  return {
    handle: (req, _res) => handleStream(req.stream, req.headers),
    handleStream: (stream, headers, authenticated) => handleStream(stream, headers, authenticated),
    close: () => pool.close(),
  };
}
