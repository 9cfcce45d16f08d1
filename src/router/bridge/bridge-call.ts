import http2, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { codeToHttpStatus, codeToString, endStreamFlag, endStreamToJson, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { HEADER_CALLER } from "../../protocol/index.js";
import { endStreamWithError, writeErrorResponse } from "../error-response.js";
import { BodyCounter, EnvelopeScanner } from "../envelope-scanner.js";
import { releaseInFlight, type ForwardRequest } from "../forward.js";
import { upstreamRequestHeaders } from "../header-hygiene.js";
import type { UpstreamPool } from "../upstream-pool.js";
import { Base64Decoder, Base64Encoder } from "./base64-stream.js";
import { connectGetMessage } from "./connect-get.js";
import { addHeaders, grpcMetadata, grpcResponseEncoding, toFetchHeaders, toGrpcRequestHeaders } from "./headers.js";
import { UnaryCollector } from "./unary-collector.js";
import { EnvelopeReader, type JsonCodec } from "./json-codec.js";
import { releaseRequest } from "../release-request.js";
import { EnvelopeGate, holdBytesFor } from "../response-limit.js";
import { RequestReplay, replayBudgetFor, unprocessed, type RetryTarget } from "../safe-retry.js";

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_REFUSED_STREAM } = http2.constants;
const textEncoder = new TextEncoder();

/**
 * Forward one call from a Connect or gRPC-Web caller to a provider that serves gRPC only,
 * translating at the envelope level: payload bytes are copied, never decoded. Request envelopes
 * are the same in Connect streaming, gRPC-Web and gRPC (flag 0x01 = compressed); a Connect unary
 * body becomes one envelope. On the way back, gRPC trailers become Connect `trailer-` headers or
 * a Connect end-stream message, or a gRPC-Web trailer frame; grpc-status/-message/-details-bin
 * become the caller's error. Same contract as forwardCall (returns `cancel(error)`).
 */
export function bridgeCall(pool: UpstreamPool, call: ForwardRequest, json?: JsonCodec): (error: ConnectError) => void {
  const { stream: caller, protocol } = call;
  const callerContentType = call.headers["content-type"] ?? (protocol === "connect-unary" ? "application/proto" : undefined);
  const unary = protocol === "connect-unary";
  const text = protocol === "grpc-web-text";
  let done = false;
  let endCode = "ok";
  let timer: NodeJS.Timeout | undefined;
  let failure: ConnectError | undefined;
  let finished = false; // the caller's response is complete

  /** This call's in-flight count (of `call.runtimeId`) is still held. */
  let counted = true;
  const finish = () => {
    if (done) return;
    done = true;
    if (timer !== undefined) clearTimeout(timer);
    if (counted) releaseInFlight(call);
    counted = false;
    call.onSettled?.();
    call.onEnd?.(endCode); // called as the request's method (forward-request.ts)
  };

  /** A gRPC stream to the call's provider; undefined (its session discarded) when its session cannot take one. */
  const open = (): http2.ClientHttp2Stream | undefined => {
    try {
      const headers = upstreamRequestHeaders(call.headers, call.target, call.path, true, call.callerHeader === undefined ? undefined : HEADER_CALLER, call.callerHeader);
      toGrpcRequestHeaders(headers, protocol, call.headers, call.path, call.timeoutMs);
      if (json) {
        // The router re-encodes every message: binary, uncompressed both ways.
        delete headers["grpc-encoding"];
        delete headers["grpc-accept-encoding"];
      }
      return pool.session(call.target).request(headers, { endStream: false });
    } catch {
      pool.discard(call.target);
      return undefined;
    }
  };
  let upstream = open() as http2.ClientHttp2Stream;
  if (upstream === undefined) {
    writeErrorResponse(caller, protocol, callerContentType, new ConnectError("provider unavailable", Code.Unavailable));
    releaseRequest(caller, true);
    endCode = "unavailable";
    finish();
    return () => undefined;
  }

  const fail = (err: ConnectError) => {
    if (failure === undefined) failure = err;
    // Between providers (a safe retry waiting for the next one): answer the caller now (forwarded-call.ts).
    if (switching) return failCaller();
    if (!upstream.closed && !upstream.destroyed) upstream.close(NGHTTP2_CANCEL);
  };

  /*
   * One safe retry (src/router/safe-retry.ts): what was sent to the provider is kept (by reference)
   * until it answers, within a budget (RequestReplay); none: no retry. JSON calls are not retried.
   */
  const replay =
    call.retarget !== undefined && json === undefined ? new RequestReplay<Uint8Array>(replayBudgetFor(call.maxMessageBytes)) : undefined;
  /** Between providers: what the caller sends is only kept. */
  let switching = false;
  let requestEnded = false;
  let upstreamError: string | undefined;
  /** Sends request bytes to the provider (kept for a retry); false when it wants no more for now. */
  const send = (bytes: Uint8Array): boolean => {
    replay?.keep(bytes);
    if (switching || upstream.closed || upstream.destroyed) return true;
    return upstream.write(bytes);
  };
  const sendEnd = (bytes?: Uint8Array) => {
    if (bytes !== undefined) send(bytes);
    requestEnded = true;
    if (!switching && !upstream.destroyed) upstream.end();
  };

  /** Runs a JSON translation; its ConnectError fails the call (undefined then). */
  const translated = <T>(f: () => T): T | undefined => {
    try {
      return f();
    } catch (e) {
      fail(e instanceof ConnectError ? e : new ConnectError("translation failed", Code.Internal));
      return undefined;
    }
  };

  // ---- request direction
  const tooLarge = () => new ConnectError(`request message larger than ${call.maxMessageBytes} bytes`, Code.ResourceExhausted);
  if (unary) {
    const compressed = call.headers["content-encoding"] !== undefined && call.headers["content-encoding"] !== "identity";
    if (call.headers[":method"] === "GET") {
      const message = connectGetMessage(call.path);
      if (message instanceof ConnectError) fail(message);
      else if (message.length > call.maxMessageBytes) fail(tooLarge());
      else {
        const getCompressed = /[?&]compression=(?!identity)[^&]+/.test(call.path);
        const first = json ? translated(() => json.request(message, getCompressed)) : message;
        if (first !== undefined) sendEnd(encodeEnvelope(getCompressed && !json ? 1 : 0, first));
      }
      caller.resume();
    } else {
      const counter = new BodyCounter(call.maxMessageBytes);
      const body: Buffer[] = [];
      caller.on("data", (chunk: Buffer) => {
        if (failure !== undefined) return;
        if (!counter.push(chunk)) return fail(tooLarge());
        body.push(chunk);
      });
      caller.on("end", () => {
        if (failure !== undefined || (!switching && upstream.destroyed)) return;
        const whole = Buffer.concat(body);
        const first = json ? translated(() => json.request(whole, compressed)) : whole;
        if (first !== undefined) sendEnd(encodeEnvelope(compressed && !json ? 1 : 0, first));
      });
    }
  } else {
    const limiter = new EnvelopeScanner(call.maxMessageBytes);
    const decoder = text ? new Base64Decoder() : undefined;
    const reader = json ? new EnvelopeReader(call.maxMessageBytes) : undefined;
    caller.on("data", (raw: Buffer) => {
      if (failure !== undefined) return;
      const chunk = decoder ? decoder.push(raw) : raw;
      if (reader) {
        const messages = reader.push(chunk);
        if (messages === false) return fail(tooLarge());
        for (const m of messages) {
          const bin = translated(() => json!.request(m.payload, (m.flags & 1) !== 0));
          if (bin === undefined) return;
          if (!send(encodeEnvelope(0, bin))) caller.pause();
        }
        return;
      }
      if (!limiter.push(chunk)) {
        caller.pause();
        return fail(tooLarge());
      }
      if (!send(chunk)) caller.pause();
    });
    caller.on("end", () => sendEnd());
  }

  // ---- response direction
  let responseHeaders: IncomingHttpHeaders | undefined;
  const responseLimit = call.maxResponseMessageBytes;
  const collector = unary ? new UnaryCollector(responseLimit) : undefined;
  const scanner = unary ? undefined : new EnvelopeScanner(responseLimit === Infinity ? Number.MAX_SAFE_INTEGER : responseLimit);
  // Passes whole messages only (an oversize one never starts): a provider dying mid-message leaves the caller at a boundary.
  const gate = scanner && !json ? new EnvelopeGate(scanner, holdBytesFor(responseLimit)) : undefined;
  // JSON callers get whole re-encoded messages: what they received always ends at a boundary.
  const responseReader = json && !unary ? new EnvelopeReader(responseLimit === Infinity ? Number.MAX_SAFE_INTEGER : responseLimit) : undefined;
  const encoder = text ? new Base64Encoder() : undefined;
  const responseTooLarge = () => new ConnectError(`response message larger than ${responseLimit} bytes`, Code.ResourceExhausted);
  const toCaller = (bytes: Buffer) => {
    if (!caller.write(encoder ? encoder.push(bytes) : bytes)) upstream.pause();
  };

  const respondStreaming = (h: IncomingHttpHeaders) => {
    const out: OutgoingHttpHeaders = { ":status": 200, "content-type": callerContentType };
    const encoding = json ? undefined : grpcResponseEncoding(h);
    if (protocol === "connect-stream") {
      if (encoding) out["connect-content-encoding"] = encoding;
      if (h["grpc-accept-encoding"]) out["connect-accept-encoding"] = h["grpc-accept-encoding"];
    } else {
      if (encoding) out["grpc-encoding"] = encoding;
      if (h["grpc-accept-encoding"]) out["grpc-accept-encoding"] = h["grpc-accept-encoding"];
    }
    caller.respond(addHeaders(out, grpcMetadata(h)));
  };

  /** The provider's final status: write the rest of the caller's response in its protocol. */
  const complete = (trailers: IncomingHttpHeaders) => {
    // Once the router failed the call (deadline, limit, credential), its error is the answer.
    if (failure !== undefined || caller.destroyed || caller.closed) return;
    finished = true;
    const status = trailers["grpc-status"];
    let err =
      status === undefined
        ? new ConnectError("protocol error: the provider sent no grpc-status", Code.Internal)
        : findTrailerError(toFetchHeaders(trailers));
    // findTrailerError keeps every trailer as metadata; the caller gets application metadata only.
    const metadata = grpcMetadata(trailers);
    if (err) {
      const details = err.details;
      err = new ConnectError(err.rawMessage, err.code);
      err.details = details;
    }
    const headerMetadata = responseHeaders ? grpcMetadata(responseHeaders) : [];
    if (unary) {
      const message = err ? undefined : collector!.single();
      if (!err && message instanceof ConnectError) err = message;
      if (err || message === undefined || message instanceof ConnectError) {
        const e = err!;
        endCode = codeToString(e.code);
        const out = addHeaders(addHeaders({ ":status": codeToHttpStatus(e.code), "content-type": "application/json" }, headerMetadata), metadata, "trailer-");
        caller.respond(out);
        caller.end(errorToJsonBytes(e, undefined));
        return;
      }
      let payload: Uint8Array = message.payload;
      if (json) {
        try {
          payload = json.response(message.payload, message.compressed);
        } catch (e) {
          const te = ConnectError.from(e);
          endCode = codeToString(te.code);
          caller.respond({ ":status": codeToHttpStatus(te.code), "content-type": "application/json" });
          caller.end(errorToJsonBytes(te, undefined));
          return;
        }
      }
      const out: OutgoingHttpHeaders = { ":status": 200, "content-type": callerContentType };
      if (message.compressed && responseHeaders && !json) out["content-encoding"] = grpcResponseEncoding(responseHeaders);
      if (responseHeaders?.["grpc-accept-encoding"]) out["accept-encoding"] = responseHeaders["grpc-accept-encoding"];
      caller.respond(addHeaders(addHeaders(out, headerMetadata), metadata, "trailer-"));
      caller.end(payload);
      return;
    }
    if (err) endCode = codeToString(err.code);
    if (!caller.headersSent) respondStreaming(responseHeaders ?? {});
    gate?.flush(toCaller);
    if (protocol === "connect-stream") {
      const md = new Headers();
      for (const [k, v] of metadata) md.append(k, v);
      const json = endStreamToJson(md, err, undefined);
      caller.end(encodeEnvelope(endStreamFlag, textEncoder.encode(JSON.stringify(json))));
      return;
    }
    const t = new Headers();
    for (const [k, v] of metadata) t.append(k, v);
    t.set("grpc-status", err ? String(err.code) : "0");
    if (err) {
      t.set("grpc-message", encodeURIComponent(err.rawMessage));
      const details = trailers["grpc-status-details-bin"];
      if (typeof details === "string") t.set("grpc-status-details-bin", details);
    }
    const frame = Buffer.from(encodeEnvelope(trailerFlag, trailerSerialize(t)));
    caller.end(encoder ? encoder.push(frame) + encoder.end() : frame);
  };

  // Trailers can arrive while data is still buffered (the caller applying backpressure): answer only at the end.
  let upstreamTrailers: IncomingHttpHeaders | undefined;
  // ---- provider stream listeners (a retry attaches them anew)
  const attach = (upstream: http2.ClientHttp2Stream) => {
    upstream.on("drain", () => {
      if (failure === undefined) caller.resume();
    });
    upstream.on("response", (headers, flags) => {
      // The provider accepted the stream: no retry from here on.
      replay?.stop();
      if (caller.destroyed || caller.closed) return;
      if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
        // Trailers-only: status and metadata in the one HEADERS frame.
        complete(headers);
        return;
      }
      if (headers[":status"] !== 200) {
        fail(new ConnectError(`provider answered HTTP ${headers[":status"]}`, Code.Unavailable));
        return;
      }
      responseHeaders = headers;
      if (!unary) respondStreaming(headers);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (failure !== undefined) return;
      if (collector) {
        if (!collector.push(chunk)) fail(responseTooLarge());
        return;
      }
      if (responseReader) {
        const messages = responseReader.push(chunk);
        if (messages === false) return fail(responseTooLarge());
        for (const m of messages) {
          const out = translated(() => json!.response(m.payload, (m.flags & 1) !== 0));
          if (out === undefined) return;
          toCaller(Buffer.from(encodeEnvelope(0, out)));
        }
        return;
      }
      if (!gate!.push(chunk, toCaller)) fail(responseTooLarge());
    });
    upstream.on("trailers", (trailers) => {
      upstreamTrailers = trailers;
    });
    upstream.on("end", () => {
      if (upstreamTrailers !== undefined && !finished) complete(upstreamTrailers);
    });
    upstream.on("error", (e: NodeJS.ErrnoException) => {
      upstreamError = e.code;
    });
    upstream.on("close", upstreamClosed);
  };
  attach(upstream);
  caller.on("drain", () => upstream.resume());

  function upstreamClosed(): void {
    // The caller has its whole answer: a later fail() (deadline, cancel) changes nothing of it.
    if (finished) {
      if (call.outliers !== undefined) {
        if (endCode === "unavailable") call.outliers.failure(call.runtimeId ?? "", false);
        else call.outliers.success(call.runtimeId ?? "");
      }
      // Answered while the caller may still be sending: let the rest drain.
      releaseRequest(caller, false);
      finish();
      return;
    }
    if (caller.destroyed || caller.closed) {
      if (endCode === "ok") endCode = "canceled";
      finish();
      return;
    }
    // The provider's stream or connection broke without an answer: a hard failure.
    if (failure === undefined && !finished) call.outliers?.failure(call.runtimeId ?? "", true);
    // Nothing of it was processed: once, another provider.
    if (replay?.keeping === true && responseHeaders === undefined && failure === undefined && !finished && unprocessed(upstream.rstCode, upstreamError)) {
      void retryElsewhere();
      return;
    }
    failCaller();
  }

  /** The one safe retry: the call, with what was sent so far, goes to the provider the router picks now. */
  async function retryElsewhere(): Promise<void> {
    switching = true;
    upstream.removeAllListeners();
    upstream.on("error", () => {});
    if (upstreamError !== undefined) pool.discard(call.target);
    if (counted) releaseInFlight(call);
    counted = false;
    let next: RetryTarget | undefined;
    try {
      next = await call.retarget!();
    } catch {
      next = undefined;
    }
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
    if (requestEnded) retried.end();
    caller.resume();
  }

  /** The call failed for good: the caller gets the error in its protocol. */
  function failCaller(): void {
    const err = failure ?? new ConnectError("provider unavailable", Code.Unavailable);
    endCode = codeToString(err.code);
    if (!caller.headersSent) {
      writeErrorResponse(caller, protocol, callerContentType, err);
      releaseRequest(caller, true);
    } else if (!finished && (responseReader !== undefined || gate?.atBoundary) && !caller.writableEnded) {
      if (encoder) {
        const rest = encoder.end();
        if (rest) caller.write(rest);
      }
      endStreamWithError(caller, protocol, err);
      releaseRequest(caller, true);
    } else if (!caller.writableEnded) {
      caller.close(NGHTTP2_REFUSED_STREAM);
    }
    finish();
  }

  caller.on("close", () => {
    // Gone before its answer was complete: the caller canceled (the provider's close comes too late to say so).
    if (endCode === "ok" && !finished) endCode = "canceled";
    if (!upstream.closed && !upstream.destroyed) upstream.close(NGHTTP2_CANCEL);
    finish();
  });
  if (call.timeoutMs !== undefined) {
    timer = setTimeout(() => fail(new ConnectError("deadline exceeded", Code.DeadlineExceeded)), call.timeoutMs);
  }
  return (error) => {
    if (!done) fail(error);
  };
}
