import http2, {
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeFromHttpStatus, codeToString } from "@connectrpc/connect/protocol-connect";
import { HEADER_CALLER } from "../protocol/index.js";
import { endStreamWithError, writeErrorResponse } from "./error-response.js";
import { BodyCounter, EnvelopeScanner } from "./envelope-scanner.js";
import { downstreamHeaders, upstreamRequestHeaders } from "./header-hygiene.js";
import { releaseRequest } from "./release-request.js";
import type { CallCounts } from "./call-counts.js";
import type { OutlierDetector } from "./outlier-ejection.js";
import { Base64EnvelopeGate, EnvelopeGate, holdBytesFor } from "./response-limit.js";
import { RequestReplay, replayBudgetFor, unprocessed, type RetryTarget } from "./safe-retry.js";
import type { UpstreamPool, UpstreamTarget } from "./upstream-pool.js";
import { isEnveloped, type WireProtocol } from "./wire-protocol.js";

const {
  NGHTTP2_CANCEL,
  NGHTTP2_REFUSED_STREAM,
  NGHTTP2_ENHANCE_YOUR_CALM,
  NGHTTP2_FLAG_END_STREAM,
} = http2.constants;

/** One call to forward: everything the router decided before the bytes start moving. */
export interface ForwardRequest {
  /** `traceparent`/`tracestate` of the router's span, replacing the caller's (only when tracing is on). */
  traceHeaders?: Record<string, string>;
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
  onSettled?: () => void;
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

const CODE_NAME_RE = /"code"\s*:\s*"([a-z_]+)"/;
const GRPC_STATUS_RE = /grpc-status:\s*(\d+)/i;

function grpcStatusName(value: unknown): string {
  const n = Number(Array.isArray(value) ? value[0] : value);
  return n === 0 ? "ok" : Number.isInteger(n) && n in Code ? codeToString(n as Code) : "unknown";
}

/**
 * Forward one call as raw HTTP/2 frames: request bytes to the provider over its pooled session,
 * response headers, bytes and trailers back untouched. Payloads are never decoded; only envelope
 * prefixes are followed (size limit, clean error at a message boundary). Cancellation flows both
 * ways; provider failure becomes Unavailable in the caller's protocol. Returns `cancel(error)`, which
 * ends the call with that error (at a message boundary, else a reset): the caller's credential ended.
 */
export function forwardCall(pool: UpstreamPool, call: ForwardRequest): (error: ConnectError) => void {
  const { stream: caller, protocol, onEnd } = call;
  const callerContentType = call.headers["content-type"];
  /** A stream to the call's provider; undefined (its session discarded) when its session cannot take one. */
  const open = (): ClientHttp2Stream | undefined => {
    try {
      return pool.session(call.target).request(
        upstreamRequestHeaders(
          call.headers,
          call.target,
          call.path,
          protocol === "grpc",
          call.callerHeader === undefined ? undefined : HEADER_CALLER,
          call.callerHeader,
          call.traceHeaders,
        ),
        OPEN_REQUEST,
      );
    } catch {
      // e.g. stream IDs exhausted or the session closing under us: start over with a fresh session next time.
      pool.discard(call.target);
      return undefined;
    }
  };
  let upstream = open() as ClientHttp2Stream;
  if (upstream === undefined) {
    if (call.outliers !== undefined) call.outliers.failure(call.runtimeId ?? "", true);
    writeErrorResponse(caller, protocol, callerContentType, new ConnectError("provider unavailable", Code.Unavailable));
    releaseRequest(caller, true);
    onEnd?.("unavailable");
    releaseInFlight(call);
    call.onSettled?.();
    return () => undefined;
  }

  let responded = false;
  /** This call's in-flight count (of `call.runtimeId`) is still held. */
  let counted = true;
  /*
   * One safe retry: the request bytes sent so far are kept (by reference; a single-frame request is
   * one variable) until the provider accepts the stream, within a budget (RequestReplay); none: no retry.
   */
  const replay = call.retarget !== undefined ? new RequestReplay<Buffer>(replayBudgetFor(call.maxMessageBytes)) : undefined;
  /** Between providers: request bytes are only kept. */
  let switching = false;
  let callerEnded = false;
  /** The code of the upstream stream's error (ECONNRESET: the connection was reset under it). */
  let upstreamError: string | undefined;
  let upstreamEnded = false;
  /** The caller has been sent the provider's whole answer. */
  let answered = false;
  let done = false;
  let failure: ConnectError | undefined;
  let trailers: OutgoingHttpHeaders | undefined;
  let endCode = "ok";
  let timer: NodeJS.Timeout | undefined;
  // Connect unary error bodies are small JSON; keep them only to report the code.
  let errorBody: Buffer[] | undefined;

  const enveloped = isEnveloped(protocol);
  const text = protocol === "grpc-web-text";
  const responseLimit = call.maxResponseMessageBytes;
  const limitResponse = responseLimit !== Infinity;
  /*
   * Streamed answers pass on whole message by whole message (a message split over DATA frames is held
   * until complete): whatever happens — the provider dying mid-message, a message over the limit, the
   * deadline — the caller sits at a boundary where one clean error end can be written.
   */
  const responseScanner =
    enveloped || text ? new EnvelopeScanner(limitResponse ? responseLimit : Number.MAX_SAFE_INTEGER, END_OF_STREAM_FLAG[protocol]) : undefined;
  const responseGate = enveloped ? new EnvelopeGate(responseScanner!, holdBytesFor(responseLimit)) : undefined;
  // gRPC-Web text is base64: decoded to find the boundaries, re-encoded on the way out.
  const textGate = text ? new Base64EnvelopeGate(responseScanner!, holdBytesFor(responseLimit)) : undefined;
  // Connect unary: the whole answer is one message.
  const unary = protocol === "connect-unary";
  const unaryCounter = unary && limitResponse ? new BodyCounter(responseLimit) : undefined;
  /*
   * A Connect unary answer is held (as received, no copies) until it is whole: its body cannot be
   * cut short cleanly, so a provider dying mid-answer becomes a clean Unavailable (and an answer
   * over the limit a clean ResourceExhausted). Most answers are one DATA frame: nothing to wait for.
   */
  let heldHeaders: OutgoingHttpHeaders | undefined;
  let heldFirst: Buffer | undefined;
  let heldMore: Buffer[] | undefined;
  let heldBytes = 0;
  let declaredBytes = -1;
  const releaseHeldUnary = () => {
    if (heldHeaders === undefined || caller.destroyed || caller.closed) return;
    caller.respond(heldHeaders, { waitForTrailers: true });
    heldHeaders = undefined;
    if (heldFirst !== undefined) caller.write(heldFirst);
    if (heldMore !== undefined) for (let i = 0; i < heldMore.length; i++) caller.write(heldMore[i]!);
    heldFirst = heldMore = undefined;
  };
  const responseTooLarge = () =>
    new ConnectError(`response message larger than ${responseLimit} bytes`, Code.ResourceExhausted);
  const toCaller = (bytes: Buffer | string) => {
    if (!caller.write(bytes)) upstream.pause();
  };

  const finish = () => {
    if (done) return;
    done = true;
    if (timer !== undefined) clearTimeout(timer);
    if (counted) releaseInFlight(call);
    counted = false;
    call.onSettled?.();
    onEnd?.(endCode);
  };

  const fail = (err: ConnectError) => {
    if (failure === undefined) failure = err;
    if (!upstream.closed && !upstream.destroyed) upstream.close(NGHTTP2_CANCEL);
  };

  // ---- request direction: caller → provider
  if (call.maxMessageBytes === Infinity && replay === undefined) {
    caller.pipe(upstream);
  } else {
    const limiter =
      call.maxMessageBytes === Infinity ? undefined : enveloped ? new EnvelopeScanner(call.maxMessageBytes) : new BodyCounter(call.maxMessageBytes);
    caller.on("data", (chunk: Buffer) => {
      if (failure !== undefined) return;
      if (limiter !== undefined && !limiter.push(chunk)) {
        caller.pause();
        fail(new ConnectError(`request message larger than ${call.maxMessageBytes} bytes`, Code.ResourceExhausted));
        return;
      }
      replay?.keep(chunk);
      // Once answered (or the provider is gone) the rest of the request is discarded (or kept for the next provider).
      if (switching || upstream.closed || upstream.destroyed) return;
      if (!upstream.write(chunk)) caller.pause();
    });
    caller.on("end", () => {
      callerEnded = true;
      if (!switching && !upstream.destroyed) upstream.end();
    });
  }

  // ---- response direction: provider → caller (listeners per provider stream: a retry attaches them anew)
  const attach = (upstream: ClientHttp2Stream) => {
    if (call.maxMessageBytes !== Infinity || call.retarget !== undefined) {
      upstream.on("drain", () => {
        if (failure === undefined) caller.resume();
      });
    }
    upstream.on("response", (headers, flags) => {
      // The provider accepted the stream: no retry from here on.
      replay?.stop();
      if (caller.destroyed || caller.closed) return;
      const status = headers[":status"];
      if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
        // Trailers-only (gRPC errors): one HEADERS frame ends the stream.
        if (headers["grpc-status"] !== undefined) endCode = grpcStatusName(headers["grpc-status"]);
        else if (status !== 200) endCode = codeToString(codeFromHttpStatus(status ?? 0));
        responded = true;
        answered = true;
        caller.respond(downstreamHeaders(headers), { endStream: true });
        return;
      }
      if (protocol === "connect-unary" && status !== 200) {
        endCode = codeToString(codeFromHttpStatus(status ?? 0));
        if (onEnd) errorBody = [];
      }
      if (unary) {
        const declared = Number(headers["content-length"] ?? Number.NaN);
        if (unaryCounter !== undefined && declared > responseLimit) return fail(responseTooLarge());
        if (declared >= 0) declaredBytes = declared;
        heldHeaders = downstreamHeaders(headers);
        responded = true;
        return;
      }
      responded = true;
      caller.respond(downstreamHeaders(headers), { waitForTrailers: true });
    });
    upstream.on("trailers", (headers) => {
      trailers = downstreamHeaders(headers);
      if (headers["grpc-status"] !== undefined) endCode = grpcStatusName(headers["grpc-status"]);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (failure !== undefined) return;
      if (responseGate !== undefined) {
        if (!responseGate.push(chunk, toCaller)) fail(responseTooLarge());
        return;
      }
      if (textGate !== undefined) {
        if (!textGate.push(chunk, toCaller)) fail(responseTooLarge());
        return;
      }
      // Connect unary (or an error body)
      if (unaryCounter !== undefined && !unaryCounter.push(chunk)) return fail(responseTooLarge());
      if (errorBody !== undefined && errorBody.length < 64) errorBody.push(chunk);
      if (heldHeaders !== undefined) {
        heldBytes += chunk.length;
        if (heldFirst === undefined) heldFirst = chunk;
        else (heldMore ??= []).push(chunk);
        return;
      }
      toCaller(chunk);
    });
    upstream.on("end", () => {
      // Resets (ours or the provider's) and dying sessions also emit "end": "close" handles those.
      if (failure !== undefined || upstream.destroyed || !responded) return;
      upstreamEnded = true;
      completeAnswer();
    });
    // Stream errors are followed by "close", which decides what the caller sees.
    upstream.on("error", (e: NodeJS.ErrnoException) => {
      upstreamError = e.code;
    });
    upstream.on("close", upstreamClosed);
  };
  attach(upstream);
  // The http2 compat response (if the stream came through one) would send its own empty trailers.
  caller.removeAllListeners("wantTrailers");
  caller.on("wantTrailers", () => {
    caller.sendTrailers(trailers ?? {});
  });
  caller.on("drain", () => upstream.resume());

  /** The provider's answer is all there (it ended, or its last message came before it died): pass it on. */
  const completeAnswer = () => {
    answered = true;
    responseGate?.flush(toCaller);
    textGate?.flush(toCaller);
    releaseHeldUnary();
    if (responseScanner?.lastCaptured) endCode = endCodeFromCapture(protocol, responseScanner.lastCaptured, endCode);
    if (errorBody !== undefined) {
      const m = CODE_NAME_RE.exec(Buffer.concat(errorBody).toString("utf8"));
      if (m?.[1]) endCode = m[1];
    }
    if (!caller.destroyed && !caller.writableEnded) caller.end();
    if (call.outliers !== undefined) {
      if (endCode === "unavailable") call.outliers.failure(call.runtimeId ?? "", false);
      else call.outliers.success(call.runtimeId ?? "");
    }
  };
  function upstreamClosed(): void {
    if (upstreamEnded && failure === undefined) {
      // The provider answered while the caller may still be sending: let the rest drain.
      releaseRequest(caller, false);
      finish();
      return;
    }
    if (caller.destroyed || caller.closed) {
      if (endCode === "ok") endCode = "canceled";
      finish();
      return;
    }
    // The provider died after its whole answer (end-of-stream message, or every byte of a Connect
    // unary body it announced) but before ending its stream: the answer stands, and nothing is appended.
    if (
      failure === undefined &&
      responded &&
      (responseScanner !== undefined ? responseScanner.ended && responseScanner.atBoundary : declaredBytes >= 0 && heldBytes === declaredBytes)
    ) {
      upstreamEnded = true;
      completeAnswer();
      releaseRequest(caller, false);
      finish();
      return;
    }
    // The provider's stream or connection broke without an answer: a hard failure.
    if (failure === undefined && call.outliers !== undefined && upstream.rstCode !== NGHTTP2_ENHANCE_YOUR_CALM) {
      call.outliers.failure(call.runtimeId ?? "", true);
    }
    // Nothing of it was processed: once, another provider.
    if (replay?.keeping === true && !responded && failure === undefined && unprocessed(upstream.rstCode, upstreamError)) {
      void retryElsewhere();
      return;
    }
    failCaller();
  }

  /** The call failed for good: the caller gets the error in its protocol. */
  function failCaller(): void {
    const err =
      failure ??
      (upstream.rstCode === NGHTTP2_ENHANCE_YOUR_CALM
        ? new ConnectError("provider refused: resource exhausted", Code.ResourceExhausted)
        : new ConnectError("provider unavailable", Code.Unavailable));
    endCode = codeToString(err.code);
    if (!responded || !caller.headersSent) {
      writeErrorResponse(caller, protocol, callerContentType, err);
      // The request may still be streaming in; it is no longer wanted.
      releaseRequest(caller, true);
    } else if ((responseGate ?? textGate)?.atBoundary && !caller.writableEnded) {
      // What the caller got ends at a message boundary (a partial message was held back, never sent).
      textGate?.end(toCaller);
      const t = endStreamWithError(caller, protocol, err);
      if (t !== undefined) trailers = t;
      // gRPC's status still has to go out as HTTP trailers: drain only, no reset.
      releaseRequest(caller, t === undefined);
    } else {
      // Mid-message (a message larger than the hold budget, with the limit disabled): only a reset is honest. REFUSED_STREAM reads as Unavailable, ENHANCE_YOUR_CALM as ResourceExhausted.
      caller.close(err.code === Code.ResourceExhausted ? NGHTTP2_ENHANCE_YOUR_CALM : err.code === Code.DeadlineExceeded ? NGHTTP2_CANCEL : NGHTTP2_REFUSED_STREAM);
    }
    finish();
  }

  /** The one safe retry: the call, with the request bytes sent so far, goes to the provider the router picks now. */
  async function retryElsewhere(): Promise<void> {
    const retarget = call.retarget!;
    switching = true;
    const failed = upstream;
    failed.removeAllListeners();
    failed.on("error", () => {});
    if (upstreamError !== undefined) pool.discard(call.target);
    if (counted) releaseInFlight(call);
    counted = false;
    let next: RetryTarget | undefined;
    try {
      next = await retarget();
    } catch {
      next = undefined;
    }
    // The caller went away meanwhile (finish ran), or the call failed for good (deadline, credential).
    if (done) return;
    const kept = replay?.take();
    switching = false;
    if (next === undefined || failure !== undefined || kept === undefined) return failCaller();
    call.target = next.target;
    call.runtimeId = next.runtimeId;
    call.callerHeader = next.callerHeader;
    call.inFlight?.increment(next.runtimeId);
    counted = true;
    const retried = open();
    if (retried === undefined) return failCaller();
    upstream = retried;
    upstreamError = undefined;
    attach(retried);
    for (let i = 0; i < kept.length; i++) retried.write(kept[i]!);
    if (callerEnded) retried.end();
    caller.resume();
  }

  // ---- cancellation and deadline
  caller.on("close", () => {
    // Gone before its answer was finished: the caller canceled (the upstream's close comes too late to say so).
    if (endCode === "ok" && !answered) endCode = "canceled";
    if (!upstream.closed && !upstream.destroyed) upstream.close(NGHTTP2_CANCEL);
    finish();
  });
  if (call.timeoutMs !== undefined) {
    timer = setTimeout(() => {
      fail(new ConnectError("deadline exceeded", Code.DeadlineExceeded));
    }, call.timeoutMs);
  }
  return (error) => {
    if (!done) fail(error);
  };
}

function endCodeFromCapture(protocol: WireProtocol, payload: Buffer, fallback: string): string {
  const text = payload.toString("utf8");
  if (protocol === "grpc-web" || protocol === "grpc-web-text") {
    const m = GRPC_STATUS_RE.exec(text);
    return m?.[1] !== undefined ? grpcStatusName(m[1]) : fallback;
  }
  if (protocol === "connect-stream") {
    const m = CODE_NAME_RE.exec(text);
    return m?.[1] ?? fallback;
  }
  return fallback;
}
