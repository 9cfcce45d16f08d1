import type * as http2 from "node:http2";
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import { peerAddressOfSession, peerKey } from "../admission/index.js";
import { identityKey } from "../identity/identity.js";
import { detectProtocol } from "../router/wire-protocol.js";
import { headerListBytes } from "./header-list.js";
import { refuseStream } from "./refuse.js";
import { createSlots, type Slots } from "./slots.js";

type Handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;
/** A request handler under the guard; `authenticated` marks the request's stream proven. */
type GuardedHandler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse, authenticated: () => void) => void;
/** A raw-stream handler under the guard; `authenticated` marks the stream proven (no async context needed). */
type StreamHandler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, authenticated: () => void) => void;
/** What a server's `'stream'` event gives. */
type StreamListener = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => void;

export interface RequestLimits {
  /** Header list size (RFC 9113 counting) a request may carry; enforced here, not only in SETTINGS. */
  maxHeaderListBytes: number;
  /** How long a request stream may take to deliver its request (see createRequestGuard). */
  requestBodyTimeoutMs: number;
  /** Streams not yet past authentication whose request is still arriving, per peer and in total. */
  unauthenticatedStreamsPerPeer: number;
  unauthenticatedStreams: number;
}

export interface RequestGuard {
  /**
   * Wraps the host's request handler, which is told how to mark the request's stream authenticated
   * (passed on explicitly: to connect-es in `streamAuthenticatedKey`, to the router as a callback).
   * `singleMessage(path)` says whether a host method's request is one message (unary and
   * server-streaming methods); Connect unary requests always are.
   */
  guard(handler: GuardedHandler, singleMessage: (path: string) => boolean): Handler;
  /** The same limits for streams taken straight from the server's `'stream'` event (routed calls). */
  guardStream(handler: StreamHandler, singleMessage: (path: string) => boolean): StreamListener;
}

const NOTHING = () => undefined;

/** A host RPC's context value: marks its stream authenticated (set from the guard's callback). */
export const streamAuthenticatedKey = createContextKey<() => void>(NOTHING, { description: "plugboard stream authenticated" });

/**
 * Runs after the identity interceptor: a host RPC whose caller was proven marks its stream
 * authenticated (its unauthenticated-stream slot is freed; a streaming method may keep streaming).
 */
export const markProvenStreams: Interceptor = (next) => (req) => {
  if (req.contextValues.get(identityKey) !== undefined) req.contextValues.get(streamAuthenticatedKey)();
  return next(req);
};

const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Server-side limits every request passes before anything else runs (issue 12, holes 7 and 8).
 *
 * 1. Header list: a request whose header list exceeds maxHeaderListBytes is refused with
 *    ResourceExhausted (HTTP 431 outside RPC protocols). HTTP/2 SETTINGS alone do not bind a
 *    client before it acknowledges them, so the first requests of a connection got ~64 KiB through.
 * 2. Request body time limit. A stream's request must be complete (END_STREAM received) within
 *    requestBodyTimeoutMs of its headers, unless the stream authenticated and its request may
 *    legitimately stream: a client- or bidi-streaming host method, or a routed gRPC / gRPC-Web /
 *    Connect streaming call (the router forwards bytes and cannot tell the kind; the caller is
 *    proven, and per-session stream limits and rate limits bound it). Unary and server-streaming
 *    requests are one message, so they are bounded even when authenticated. A stream past the
 *    limit is answered with DeadlineExceeded (408 outside RPC protocols) and reset. A response
 *    still being streamed (a Watch that has its request) is never cut: the limit is on the request.
 * 3. Unauthenticated streams: streams that neither authenticated nor finished their request count
 *    against unauthenticatedStreamsPerPeer (per remote address, IPv6 per /64) and
 *    unauthenticatedStreams (all peers); past either, a new one is refused with ResourceExhausted
 *    (429 outside RPC protocols) at once. Requests that arrive whole with their headers never count.
 */
export function createRequestGuard(limits: RequestLimits): RequestGuard {
  // setTimeout treats anything past 2^31-1 ms as 1 ms: a huge limit must not become a tiny one.
  const bodyTimeoutMs = Math.min(limits.requestBodyTimeoutMs, MAX_TIMER_MS);
  const pending = createSlots(limits.unauthenticatedStreamsPerPeer, limits.unauthenticatedStreams);
  // Peer keys by address (a peer's requests repeat its address: no normalising per request); bounded.
  const slotKeys = new Map<string | undefined, string>();
  const slotKeyOf = (address: string | undefined): string => {
    let key = slotKeys.get(address);
    if (key === undefined) {
      key = peerKey(address);
      if (slotKeys.size >= 1024) slotKeys.clear();
      slotKeys.set(address, key);
    }
    return key;
  };

  return {
    guard(handler, singleMessage) {
      return (req, res) => {
        const admission = admit(req.stream, req.headers, req.rawHeaders, req.socket?.remoteAddress, singleMessage);
        if (admission === undefined) return;
        if (admission === ADMITTED) return handler(req, res, NOTHING);
        handler(req, res, admission.authenticated);
        admission.watch();
      };
    },

    guardStream(handler, singleMessage) {
      return (stream, headers, _flags, rawHeaders) => {
        const admission = admit(stream, headers, rawHeaders, peerAddressOfSession(stream.session), singleMessage);
        if (admission === undefined) return;
        if (admission === ADMITTED) return handler(stream, headers, NOTHING);
        handler(stream, headers, admission.authenticated);
        admission.watch();
      };
    },
  };

  /**
   * Applies the limits to a new request stream: undefined when it was refused (and answered),
   * ADMITTED when there is nothing left to watch, else the stream's admission, holding its
   * unauthenticated-stream slot. Once the handler has run, `watch()` starts the body timer, unless
   * the caller was proven meanwhile and may stream (a routed call whose identity was known at once).
   */
  function admit(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    rawHeaders: readonly string[],
    peerAddress: string | undefined,
    singleMessage: (path: string) => boolean,
  ): Admission | typeof ADMITTED | undefined {
    const size = headerListBytes(rawHeaders);
    if (size > limits.maxHeaderListBytes) {
      const err = new ConnectError(
        `request header list of ${size} bytes exceeds limits.maxHeaderListBytes (${limits.maxHeaderListBytes})`,
        Code.ResourceExhausted,
      );
      refuseStream(stream, headers, err, 431);
      return undefined;
    }
    // A request that ended with its headers has nothing left to wait for.
    if (stream.endAfterHeaders) return ADMITTED;

    const slotKey = slotKeyOf(peerAddress);
    const refused = pending.take(slotKey);
    if (refused !== undefined) {
      const limit = refused === "perPeer" ? "unauthenticatedStreamsPerPeer" : "unauthenticatedStreams";
      const err = new ConnectError(
        `too many requests not yet authenticated (limits.${limit} = ${limits[limit]}); retry later`,
        Code.ResourceExhausted,
      );
      refuseStream(stream, headers, err, 429);
      return undefined;
    }
    const path = headers[":path"] ?? "";
    const query = path.indexOf("?");
    const oneMessage = singleMessage(query < 0 ? path : path.slice(0, query)) || detectProtocol(headers["content-type"], headers[":method"]) === "connect-unary";
    return new Admission(limits, bodyTimeoutMs, stream, headers, pending, slotKey, oneMessage);
  }
}

/**
 * One admitted request stream: its slot (until authenticated) and its body timer (until the request
 * is in). Its steps are shared methods; `authenticated` is the one function made per admission.
 */
class Admission {
  private slotHeld = true;
  private settled = false;
  private timer: NodeJS.Timeout | undefined = undefined;
  /** Stream listener that settles this admission: made only when the body timer is armed. */
  private onStreamDone: (() => void) | undefined = undefined;
  readonly authenticated: () => void;

  constructor(
    private readonly limits: RequestLimits,
    private readonly bodyTimeoutMs: number,
    private readonly stream: http2.ServerHttp2Stream,
    private readonly headers: http2.IncomingHttpHeaders,
    private readonly slots: Slots,
    private readonly slotKey: string,
    private readonly oneMessage: boolean,
  ) {
    this.authenticated = () => {
      this.release();
      if (!this.oneMessage) this.settle();
    };
  }

  /** Frees the unauthenticated-stream slot (once). */
  private release(): void {
    if (!this.slotHeld) return;
    this.slotHeld = false;
    this.slots.give(this.slotKey);
  }

  /** Nothing more to watch: the request is in, the stream is gone, or the caller was proven and may stream. */
  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.stream.off("end", this.onStreamDone!);
      this.stream.off("close", this.onStreamDone!);
    }
    this.release();
  }

  watch(): void {
    if (this.settled) return;
    const stream = this.stream;
    if (stream.destroyed || stream.closed || stream.readableEnded) return this.settle();
    this.timer = setTimeout(bodyTimedOut, this.bodyTimeoutMs, this);
    this.timer.unref();
    const done = (this.onStreamDone = () => this.settle());
    stream.once("end", done);
    stream.once("close", done);
  }

  /** The request did not arrive in time: refused with DeadlineExceeded. */
  timedOut(): void {
    this.settle();
    const err = new ConnectError(
      `request not received within limits.requestBodyTimeoutMs (${this.limits.requestBodyTimeoutMs} ms)`,
      Code.DeadlineExceeded,
    );
    refuseStream(this.stream, this.headers, err, 408);
  }
}

function bodyTimedOut(admission: Admission): void {
  admission.timedOut();
}

/** Marks a request that needs no watching (it ended with its headers). */
const ADMITTED = Symbol("admitted");

/**
 * Whether a host path's request is one message: every method of the host's own services, and
 * the unary and server-streaming methods of `streamable` services (capabilities may stream).
 */
export function singleMessageMethods(
  hostServiceTypes: ReadonlySet<string>,
  streamable: readonly DescService[],
): (path: string) => boolean {
  const streaming = new Set<string>();
  for (const service of streamable)
    for (const method of service.methods)
      if (method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming")
        streaming.add(`/${service.typeName}/${method.name}`);
  return (path) => {
    const end = path.indexOf("/", 1);
    return end > 0 && hostServiceTypes.has(path.slice(1, end)) && !streaming.has(path);
  };
}
