import http2, { type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeFromHttpStatus, codeToString } from "@connectrpc/connect/protocol-connect";
import { HEADER_CALLER } from "../protocol/index.js";
import { CODE_NAME_RE, endCodeFromCapture, grpcStatusName } from "./end-code.js";
import { endStreamWithError, writeErrorResponse } from "./error-response.js";
import { BodyCounter, EnvelopeScanner } from "./envelope-scanner.js";
import { releaseInFlight, type ForwardRequest } from "./forward-request.js";
import { downstreamHeaders, upstreamRequestHeaders } from "./header-hygiene.js";
import { releaseRequest } from "./release-request.js";
import { Base64EnvelopeGate, EnvelopeGate, holdBytesFor } from "./response-limit.js";
import { RequestReplay, replayBudgetFor, unprocessed, type RetryTarget } from "./safe-retry.js";
import type { UpstreamPool } from "./upstream-pool.js";
import { isEnveloped, type WireProtocol } from "./wire-protocol.js";

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_FLAG_END_STREAM } = http2.constants;

/** The envelope flag of the message that ends an answer (gRPC's end is its HTTP trailers). */
const END_OF_STREAM_FLAG: Record<WireProtocol, number> = {
  "connect-stream": 0x02,
  "grpc-web": 0x80,
  grpc: 0,
  "connect-unary": 0,
  "grpc-web-text": 0x80,
};

/** The upstream request stays open for the caller's body (whatever its method); one shared options object. */
const OPEN_REQUEST = Object.freeze({ endStream: false });
/** respond() options, shared (node copies them). */
const RESPOND_WITH_TRAILERS = Object.freeze({ waitForTrailers: true });
const RESPOND_AND_END = Object.freeze({ endStream: true });

/*
 * Both streams of a forwarded call carry the call under this key, so the listeners are shared
 * functions (`this` is the emitting stream) instead of closures made for every call.
 */
const kForwarded = Symbol("plugboard.forwarded");
type Tagged = { [kForwarded]: ForwardedCall };
const forwardedOf = (stream: object): ForwardedCall => (stream as Tagged)[kForwarded];

/**
 * One forwarded call's state machine: request bytes caller → provider, response headers, bytes and
 * trailers provider → caller, cancellation both ways, the deadline, the one safe retry. All of its
 * state lives here; see forwardCall (forward.ts) for the contract.
 */
export class ForwardedCall {
  private readonly caller: ServerHttp2Stream;
  private readonly protocol: WireProtocol;
  /** Set by start(); a retry replaces it. */
  private upstream!: ClientHttp2Stream;
  private responded = false;
  /** This call's in-flight count (of `call.runtimeId`) is still held. */
  private counted = true;
  /*
   * One safe retry: the request bytes sent so far are kept (by reference; a single-frame request is
   * one variable) until the provider accepts the stream, within a budget (RequestReplay); none: no retry.
   */
  private readonly replay: RequestReplay<Buffer> | undefined;
  /** Between providers: request bytes are only kept. */
  private switching = false;
  private callerEnded = false;
  /** The code of the upstream stream's error (ECONNRESET: the connection was reset under it). */
  private upstreamError: string | undefined = undefined;
  private upstreamEnded = false;
  /** The caller has been sent the provider's whole answer. */
  private answered = false;
  private done = false;
  private failure: ConnectError | undefined = undefined;
  private trailers: OutgoingHttpHeaders | undefined = undefined;
  private endCode = "ok";
  private timer: NodeJS.Timeout | undefined = undefined;
  /** Connect unary error bodies are small JSON; kept only to report the code. */
  private errorBody: Buffer[] | undefined = undefined;
  /** Request direction: the message (enveloped) or body (Connect unary) limit; undefined when disabled. */
  private readonly requestLimiter: EnvelopeScanner | BodyCounter | undefined;
  /*
   * Streamed answers pass on whole message by whole message (a message split over DATA frames is held
   * until complete): whatever happens — the provider dying mid-message, a message over the limit, the
   * deadline — the caller sits at a boundary where one clean error end can be written.
   */
  private readonly responseScanner: EnvelopeScanner | undefined;
  private readonly responseGate: EnvelopeGate | undefined;
  /** gRPC-Web text is base64: decoded to find the boundaries, re-encoded on the way out. */
  private readonly textGate: Base64EnvelopeGate | undefined;
  /** Connect unary: the whole answer is one message. */
  private readonly unary: boolean;
  private readonly unaryCounter: BodyCounter | undefined;
  /*
   * A Connect unary answer is held (as received, no copies) until it is whole: its body cannot be
   * cut short cleanly, so a provider dying mid-answer becomes a clean Unavailable (and an answer
   * over the limit a clean ResourceExhausted). Most answers are one DATA frame: nothing to wait for.
   */
  private heldHeaders: OutgoingHttpHeaders | undefined = undefined;
  private heldFirst: Buffer | undefined = undefined;
  private heldMore: Buffer[] | undefined = undefined;
  private heldBytes = 0;
  private declaredBytes = -1;
  /** Drain listeners are added only once a write buffer first fills (most calls never fill one). */
  private callerDrainHooked = false;
  private upstreamDrainHooked = false;
  /** Writes response bytes to the caller, pausing the provider while the caller's buffer is full (the gates' sink). */
  private readonly toCaller: (bytes: Buffer | string) => void;

  constructor(
    private readonly pool: UpstreamPool,
    private readonly call: ForwardRequest,
  ) {
    this.caller = call.stream;
    const protocol = (this.protocol = call.protocol);
    this.replay = call.retarget !== undefined ? new RequestReplay<Buffer>(replayBudgetFor(call.maxMessageBytes)) : undefined;
    const enveloped = isEnveloped(protocol);
    this.requestLimiter =
      call.maxMessageBytes === Infinity ? undefined : enveloped ? new EnvelopeScanner(call.maxMessageBytes) : new BodyCounter(call.maxMessageBytes);
    const text = protocol === "grpc-web-text";
    const responseLimit = call.maxResponseMessageBytes;
    const limitResponse = responseLimit !== Infinity;
    this.responseScanner =
      enveloped || text ? new EnvelopeScanner(limitResponse ? responseLimit : Number.MAX_SAFE_INTEGER, END_OF_STREAM_FLAG[protocol]) : undefined;
    this.responseGate = enveloped ? new EnvelopeGate(this.responseScanner!, holdBytesFor(responseLimit)) : undefined;
    this.textGate = text ? new Base64EnvelopeGate(this.responseScanner!, holdBytesFor(responseLimit)) : undefined;
    this.unary = protocol === "connect-unary";
    this.unaryCounter = this.unary && limitResponse ? new BodyCounter(responseLimit) : undefined;
    this.toCaller = (bytes) => {
      if (!this.caller.write(bytes)) this.pauseUpstream();
    };
  }

  /** Opens the provider stream and starts moving bytes; false when no stream could be opened (the caller was answered). */
  start(): boolean {
    const { call, caller } = this;
    const upstream = this.open();
    if (upstream === undefined) {
      if (call.outliers !== undefined) call.outliers.failure(call.runtimeId ?? "", true);
      writeErrorResponse(caller, this.protocol, call.headers["content-type"], new ConnectError("provider unavailable", Code.Unavailable));
      releaseRequest(caller, true);
      call.onEnd?.("unavailable");
      releaseInFlight(call);
      call.onSettled?.();
      return false;
    }
    this.upstream = upstream;
    (caller as unknown as Tagged)[kForwarded] = this;
    // ---- request direction: caller → provider
    if (this.requestLimiter === undefined && this.replay === undefined) {
      caller.pipe(upstream);
    } else {
      caller.on("data", onCallerData);
      caller.on("end", onCallerEnd);
    }
    // ---- response direction: provider → caller (listeners per provider stream: a retry attaches them anew)
    this.attach(upstream);
    // The http2 compat response (if the stream came through one) would send its own empty trailers.
    caller.removeAllListeners("wantTrailers");
    caller.on("wantTrailers", onCallerWantTrailers);
    // ---- cancellation and deadline
    caller.on("close", onCallerClose);
    if (call.timeoutMs !== undefined) this.timer = setTimeout(onDeadline, call.timeoutMs, this);
    return true;
  }

  /** Ends the call with `error` (at a message boundary, else a reset), unless it is over already. */
  cancel(error: ConnectError): void {
    if (!this.done) this.fail(error);
  }

  /** A stream to the call's provider; undefined (its session discarded) when its session cannot take one. */
  private open(): ClientHttp2Stream | undefined {
    const call = this.call;
    try {
      return this.pool.session(call.target).request(
        upstreamRequestHeaders(
          call.headers,
          call.target,
          call.path,
          this.protocol === "grpc",
          call.callerHeader === undefined ? undefined : HEADER_CALLER,
          call.callerHeader,
          call.traceHeaders,
        ),
        OPEN_REQUEST,
      );
    } catch {
      // e.g. stream IDs exhausted or the session closing under us: start over with a fresh session next time.
      this.pool.discard(call.target);
      return undefined;
    }
  }

  private attach(upstream: ClientHttp2Stream): void {
    (upstream as unknown as Tagged)[kForwarded] = this;
    this.upstreamDrainHooked = false;
    upstream.on("response", onUpstreamResponse);
    upstream.on("trailers", onUpstreamTrailers);
    upstream.on("data", onUpstreamData);
    upstream.on("end", onUpstreamEnd);
    // Stream errors are followed by "close", which decides what the caller sees.
    upstream.on("error", onUpstreamError);
    upstream.on("close", onUpstreamClose);
  }

  callerData(chunk: Buffer): void {
    if (this.failure !== undefined) return;
    const limiter = this.requestLimiter;
    if (limiter !== undefined && !limiter.push(chunk)) {
      this.caller.pause();
      this.fail(new ConnectError(`request message larger than ${this.call.maxMessageBytes} bytes`, Code.ResourceExhausted));
      return;
    }
    this.replay?.keep(chunk);
    // Once answered (or the provider is gone) the rest of the request is discarded (or kept for the next provider).
    const upstream = this.upstream;
    if (this.switching || upstream.closed || upstream.destroyed) return;
    if (!upstream.write(chunk)) {
      this.caller.pause();
      if (!this.upstreamDrainHooked) {
        this.upstreamDrainHooked = true;
        upstream.on("drain", onUpstreamDrain);
      }
    }
  }

  callerEnd(): void {
    this.callerEnded = true;
    if (!this.switching && !this.upstream.destroyed) this.upstream.end();
  }

  upstreamDrained(): void {
    if (this.failure === undefined) this.caller.resume();
  }

  callerDrained(): void {
    this.upstream.resume();
  }

  private pauseUpstream(): void {
    this.upstream.pause();
    if (!this.callerDrainHooked) {
      this.callerDrainHooked = true;
      this.caller.on("drain", onCallerDrain);
    }
  }

  sendTrailers(): void {
    this.caller.sendTrailers(this.trailers ?? {});
  }

  response(headers: IncomingHttpHeaders & { ":status"?: number }, flags: number): void {
    // The provider accepted the stream: no retry from here on.
    this.replay?.stop();
    const caller = this.caller;
    if (caller.destroyed || caller.closed) return;
    const status = headers[":status"];
    if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
      // Trailers-only (gRPC errors): one HEADERS frame ends the stream.
      if (headers["grpc-status"] !== undefined) this.endCode = grpcStatusName(headers["grpc-status"]);
      else if (status !== 200) this.endCode = codeToString(codeFromHttpStatus(status ?? 0));
      this.responded = true;
      this.answered = true;
      caller.respond(downstreamHeaders(headers), RESPOND_AND_END);
      return;
    }
    if (this.unary) {
      if (status !== 200) {
        this.endCode = codeToString(codeFromHttpStatus(status ?? 0));
        if (this.call.onEnd) this.errorBody = [];
      }
      const declared = Number(headers["content-length"] ?? Number.NaN);
      if (this.unaryCounter !== undefined && declared > this.call.maxResponseMessageBytes) return this.fail(this.responseTooLarge());
      if (declared >= 0) this.declaredBytes = declared;
      this.heldHeaders = downstreamHeaders(headers);
      this.responded = true;
      return;
    }
    this.responded = true;
    caller.respond(downstreamHeaders(headers), RESPOND_WITH_TRAILERS);
  }

  upstreamTrailers(headers: IncomingHttpHeaders): void {
    this.trailers = downstreamHeaders(headers);
    if (headers["grpc-status"] !== undefined) this.endCode = grpcStatusName(headers["grpc-status"]);
  }

  upstreamData(chunk: Buffer): void {
    if (this.failure !== undefined) return;
    if (this.responseGate !== undefined) {
      if (!this.responseGate.push(chunk, this.toCaller)) this.fail(this.responseTooLarge());
      return;
    }
    if (this.textGate !== undefined) {
      if (!this.textGate.push(chunk, this.toCaller)) this.fail(this.responseTooLarge());
      return;
    }
    // Connect unary (or an error body)
    if (this.unaryCounter !== undefined && !this.unaryCounter.push(chunk)) return this.fail(this.responseTooLarge());
    if (this.errorBody !== undefined && this.errorBody.length < 64) this.errorBody.push(chunk);
    if (this.heldHeaders !== undefined) {
      this.heldBytes += chunk.length;
      if (this.heldFirst === undefined) this.heldFirst = chunk;
      else (this.heldMore ??= []).push(chunk);
      return;
    }
    this.toCaller(chunk);
  }

  upstreamEnd(): void {
    // Resets (ours or the provider's) and dying sessions also emit "end": "close" handles those.
    if (this.failure !== undefined || this.upstream.destroyed || !this.responded) return;
    this.upstreamEnded = true;
    this.completeAnswer();
  }

  upstreamErrored(code: string | undefined): void {
    this.upstreamError = code;
  }

  private responseTooLarge(): ConnectError {
    return new ConnectError(`response message larger than ${this.call.maxResponseMessageBytes} bytes`, Code.ResourceExhausted);
  }

  private releaseHeldUnary(): void {
    const caller = this.caller;
    if (this.heldHeaders === undefined || caller.destroyed || caller.closed) return;
    caller.respond(this.heldHeaders, RESPOND_WITH_TRAILERS);
    this.heldHeaders = undefined;
    if (this.heldFirst !== undefined) caller.write(this.heldFirst);
    const more = this.heldMore;
    if (more !== undefined) for (let i = 0; i < more.length; i++) caller.write(more[i]!);
    this.heldFirst = this.heldMore = undefined;
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.counted) releaseInFlight(this.call);
    this.counted = false;
    this.call.onSettled?.();
    this.call.onEnd?.(this.endCode);
  }

  fail(err: ConnectError): void {
    if (this.failure === undefined) this.failure = err;
    // Between providers (a safe retry waiting for the next one): no upstream to close, so the caller is
    // answered now, not when the lookup comes back (it may hang on a store outage); the retry then stops.
    if (this.switching) return this.failCaller();
    const upstream = this.upstream;
    if (!upstream.closed && !upstream.destroyed) upstream.close(NGHTTP2_CANCEL);
  }

  /** The provider's answer is all there (it ended, or its last message came before it died): pass it on. */
  private completeAnswer(): void {
    const { caller, call } = this;
    this.answered = true;
    this.responseGate?.flush(this.toCaller);
    this.textGate?.flush(this.toCaller);
    this.releaseHeldUnary();
    const captured = this.responseScanner?.lastCaptured;
    if (captured) this.endCode = endCodeFromCapture(this.protocol, captured, this.endCode);
    if (this.errorBody !== undefined) {
      const m = CODE_NAME_RE.exec(Buffer.concat(this.errorBody).toString("utf8"));
      if (m?.[1]) this.endCode = m[1];
    }
    if (!caller.destroyed && !caller.writableEnded) caller.end();
    if (call.outliers !== undefined) {
      if (this.endCode === "unavailable") call.outliers.failure(call.runtimeId ?? "", false);
      else call.outliers.success(call.runtimeId ?? "");
    }
  }

  upstreamClosed(): void {
    const { caller, call, upstream } = this;
    if (this.upstreamEnded) {
      // The provider answered while the caller may still be sending: let the rest drain. A deadline or
      // credential end that came after the whole answer is too late to change it (or to reset the caller).
      releaseRequest(caller, false);
      this.finish();
      return;
    }
    if (caller.destroyed || caller.closed) {
      if (this.endCode === "ok") this.endCode = "canceled";
      this.finish();
      return;
    }
    // The provider died after its whole answer (end-of-stream message, or every byte of a Connect
    // unary body it announced) but before ending its stream: the answer stands, and nothing is appended.
    const scanner = this.responseScanner;
    if (
      this.failure === undefined &&
      this.responded &&
      (scanner !== undefined ? scanner.ended && scanner.atBoundary : this.declaredBytes >= 0 && this.heldBytes === this.declaredBytes)
    ) {
      this.upstreamEnded = true;
      this.completeAnswer();
      releaseRequest(caller, false);
      this.finish();
      return;
    }
    // The provider's stream or connection broke without an answer: a hard failure.
    if (this.failure === undefined && call.outliers !== undefined && upstream.rstCode !== NGHTTP2_ENHANCE_YOUR_CALM) {
      call.outliers.failure(call.runtimeId ?? "", true);
    }
    // Nothing of it was processed: once, another provider.
    if (this.replay?.keeping === true && !this.responded && this.failure === undefined && unprocessed(upstream.rstCode, this.upstreamError)) {
      void this.retryElsewhere();
      return;
    }
    this.failCaller();
  }

  /** The call failed for good: the caller gets the error in its protocol. */
  private failCaller(): void {
    const { caller, protocol } = this;
    const err =
      this.failure ??
      (this.upstream.rstCode === NGHTTP2_ENHANCE_YOUR_CALM
        ? new ConnectError("provider refused: resource exhausted", Code.ResourceExhausted)
        : new ConnectError("provider unavailable", Code.Unavailable));
    this.endCode = codeToString(err.code);
    if (!this.responded || !caller.headersSent) {
      writeErrorResponse(caller, protocol, this.call.headers["content-type"], err);
      // The request may still be streaming in; it is no longer wanted.
      releaseRequest(caller, true);
    } else if ((this.responseGate ?? this.textGate)?.atBoundary && !caller.writableEnded) {
      // What the caller got ends at a message boundary (a partial message was held back, never sent).
      this.textGate?.end(this.toCaller);
      const t = endStreamWithError(caller, protocol, err);
      if (t !== undefined) this.trailers = t;
      // gRPC's status still has to go out as HTTP trailers: drain only, no reset.
      releaseRequest(caller, t === undefined);
    } else {
      // Mid-message (a message larger than the hold budget, with the limit disabled): only a reset is honest. REFUSED_STREAM reads as Unavailable, ENHANCE_YOUR_CALM as ResourceExhausted.
      caller.close(err.code === Code.ResourceExhausted ? NGHTTP2_ENHANCE_YOUR_CALM : err.code === Code.DeadlineExceeded ? NGHTTP2_CANCEL : NGHTTP2_REFUSED_STREAM);
    }
    this.finish();
  }

  /** The one safe retry: the call, with the request bytes sent so far, goes to the provider the router picks now. */
  private async retryElsewhere(): Promise<void> {
    const call = this.call;
    this.switching = true;
    const failed = this.upstream;
    failed.removeAllListeners();
    failed.on("error", ignore);
    if (this.upstreamError !== undefined) this.pool.discard(call.target);
    if (this.counted) releaseInFlight(call);
    this.counted = false;
    let next: RetryTarget | undefined;
    try {
      next = await call.retarget!();
    } catch {
      next = undefined;
    }
    // The caller went away meanwhile (finish ran), or the call failed for good (deadline, credential).
    if (this.done) return;
    const kept = this.replay?.take();
    this.switching = false;
    if (next === undefined || this.failure !== undefined || kept === undefined) return this.failCaller();
    call.target = next.target;
    call.runtimeId = next.runtimeId;
    call.callerHeader = next.callerHeader;
    call.inFlight?.increment(next.runtimeId);
    this.counted = true;
    const retried = this.open();
    if (retried === undefined) return this.failCaller();
    this.upstream = retried;
    this.upstreamError = undefined;
    this.attach(retried);
    for (let i = 0; i < kept.length; i++) retried.write(kept[i]!);
    if (this.callerEnded) retried.end();
    this.caller.resume();
  }

  callerClosed(): void {
    // Gone before its answer was finished: the caller canceled (the upstream's close comes too late to say so).
    if (this.endCode === "ok" && !this.answered) this.endCode = "canceled";
    const upstream = this.upstream;
    if (!upstream.closed && !upstream.destroyed) upstream.close(NGHTTP2_CANCEL);
    this.finish();
  }
}

const ignore = (): void => undefined;

// Shared listeners: `this` is the stream that emitted, tagged with its call.
function onCallerData(this: ServerHttp2Stream, chunk: Buffer): void {
  forwardedOf(this).callerData(chunk);
}
function onCallerEnd(this: ServerHttp2Stream): void {
  forwardedOf(this).callerEnd();
}
function onCallerDrain(this: ServerHttp2Stream): void {
  forwardedOf(this).callerDrained();
}
function onCallerWantTrailers(this: ServerHttp2Stream): void {
  forwardedOf(this).sendTrailers();
}
function onCallerClose(this: ServerHttp2Stream): void {
  forwardedOf(this).callerClosed();
}
function onUpstreamDrain(this: ClientHttp2Stream): void {
  forwardedOf(this).upstreamDrained();
}
function onUpstreamResponse(this: ClientHttp2Stream, headers: IncomingHttpHeaders & { ":status"?: number }, flags: number): void {
  forwardedOf(this).response(headers, flags);
}
function onUpstreamTrailers(this: ClientHttp2Stream, headers: IncomingHttpHeaders): void {
  forwardedOf(this).upstreamTrailers(headers);
}
function onUpstreamData(this: ClientHttp2Stream, chunk: Buffer): void {
  forwardedOf(this).upstreamData(chunk);
}
function onUpstreamEnd(this: ClientHttp2Stream): void {
  forwardedOf(this).upstreamEnd();
}
function onUpstreamError(this: ClientHttp2Stream, e: NodeJS.ErrnoException): void {
  forwardedOf(this).upstreamErrored(e.code);
}
function onUpstreamClose(this: ClientHttp2Stream): void {
  forwardedOf(this).upstreamClosed();
}
function onDeadline(call: ForwardedCall): void {
  call.fail(new ConnectError("deadline exceeded", Code.DeadlineExceeded));
}
