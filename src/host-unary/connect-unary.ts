import * as http2 from "node:http2";
import type { DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type HandlerContext, type Interceptor, type MethodImplSpec } from "@connectrpc/connect";
import {
  compressionNegotiate,
  createMethodSerializationLookup,
  invokeUnaryImplementation,
  type Compression,
  type MethodSerializationLookup,
} from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  contentTypeUnaryJson,
  contentTypeUnaryProto,
  errorToJsonBytes,
  parseTimeout,
} from "@connectrpc/connect/protocol-connect";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";

/** A host unary method as connect-es would serve it: implementation, and its codecs with the host's size limits. */
export interface UnaryMethod {
  spec: MethodImplSpec & { kind: "unary" };
  serialization: MethodSerializationLookup<DescMessage, DescMessage>;
}

export interface ConnectUnaryOptions {
  /** The host's interceptors, applied exactly as on the connect-es path. */
  interceptors: Interceptor[];
  readMaxBytes: number;
  writeMaxBytes: number;
}

/** Node gives request headers lower-cased (connect-es's constants are capitalised, for fetch Headers). */
const CONTENT_ENCODING = "content-encoding";
const ACCEPT_ENCODING = "accept-encoding";
const CONTENT_LENGTH = "content-length";

/** connect-es's defaults (connectNodeAdapter): what a response may be compressed with, and from what size. */
const ACCEPT_COMPRESSION: Compression[] = [compressionGzip, compressionBrotli];
const COMPRESS_MIN_BYTES = 1024;

export function unaryMethod(spec: MethodImplSpec & { kind: "unary" }, limits: ConnectUnaryOptions): UnaryMethod {
  const serialization = createMethodSerializationLookup(spec.method, undefined, undefined, limits);
  return { spec, serialization };
}

/** What the call's stream gives besides its headers: its context values (peer address, certificate) and URL. */
export interface UnaryCallSource {
  stream: http2.ServerHttp2Stream;
  headers: http2.IncomingHttpHeaders;
  values: ContextValues;
  url: string;
  /** Extra response headers (the request id). */
  responseHeaders: Record<string, string>;
}

/**
 * Serves one Connect unary POST (binary) on its raw stream, step for step as connect-es's Connect
 * handler does it (timeout header, request compression, readMaxBytes/writeMaxBytes, interceptors,
 * errors as JSON with the Connect HTTP status, trailers as `trailer-` headers, response
 * compression), without the http2 compat layer and the universal request/response adapters,
 * which cost more host CPU than the host methods themselves.
 */
export async function serveConnectUnary(method: UnaryMethod, source: UnaryCallSource, options: ConnectUnaryOptions): Promise<void> {
  const { stream, headers } = source;
  const call = new CallSignal(stream);
  const timeout = parseTimeout(headerValue(headers["connect-timeout-ms"]), Number.MAX_SAFE_INTEGER);
  const deadlineAt = timeout.timeoutMs === undefined ? undefined : Date.now() + timeout.timeoutMs;
  if (timeout.timeoutMs !== undefined && timeout.error === undefined) call.deadline(timeout.timeoutMs);
  const context: HandlerContext = {
    method: method.spec.method,
    service: method.spec.method.parent,
    signal: call.signal,
    timeoutMs: deadlineAt === undefined ? () => undefined : () => deadlineAt - Date.now(),
    requestMethod: "POST",
    requestHeader: webHeaders(headers),
    responseHeader: new Headers({ "content-type": contentTypeUnaryProto }),
    responseTrailer: new Headers(),
    protocolName: "connect",
    values: source.values,
    url: source.url,
  };
  const compression = compressionNegotiate(
    ACCEPT_COMPRESSION,
    headerValue(headers[CONTENT_ENCODING]),
    headerValue(headers[ACCEPT_ENCODING]),
    ACCEPT_ENCODING,
  );
  let status = 200;
  let body: Uint8Array;
  try {
    if (compression.error) throw compression.error;
    if (timeout.error) throw timeout.error;
    let bytes = await readBody(stream, options.readMaxBytes, headerValue(headers[CONTENT_LENGTH]));
    if (compression.request) bytes = await compression.request.decompress(bytes, options.readMaxBytes);
    const input = method.serialization.getI(true).parse(bytes);
    const output = await invokeUnaryImplementation(method.spec, context, input, options.interceptors);
    body = method.serialization.getO(true).serialize(output);
  } catch (e) {
    const error = e instanceof ConnectError ? e : new ConnectError("internal error", Code.Internal, undefined, undefined, e);
    call.end(error);
    status = codeToHttpStatus(error.code);
    context.responseHeader.set("content-type", contentTypeUnaryJson);
    error.metadata.forEach((value, key) => context.responseHeader.set(key, value));
    body = errorToJsonBytes(error, undefined);
  } finally {
    call.end();
  }
  if (compression.response && body.byteLength >= COMPRESS_MIN_BYTES) {
    body = await compression.response.compress(body);
    context.responseHeader.set(CONTENT_ENCODING, compression.response.name);
  }
  respond(stream, status, context.responseHeader, context.responseTrailer, source.responseHeaders, body);
}

/** Writes the answer: headers, then trailers as `trailer-` headers (connect-es's trailerMux, without its copy). */
function respond(stream: http2.ServerHttp2Stream, status: number, header: Headers, trailer: Headers, extra: Record<string, string>, body: Uint8Array): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  const out: http2.OutgoingHttpHeaders = { ":status": status, ...extra };
  // Headers joins repeated fields with ", " except set-cookie, as connect-es's conversion does.
  header.forEach((value, key) => (out[key] = key === "set-cookie" ? header.getSetCookie() : value));
  trailer.forEach((value, key) => {
    const name = `trailer-${key}`;
    out[name] = out[name] === undefined ? value : `${String(out[name])}, ${value}`;
  });
  out[CONTENT_LENGTH] = String(body.byteLength);
  try {
    stream.respond(out);
  } catch {
    // A header node refuses (a connection-specific one an interceptor set): no answer can be sent as is.
    stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  stream.end(body);
}

/** The request body, whole, bounded as connect-es's readAllBytes bounds it (same errors). */
function readBody(stream: http2.ServerHttp2Stream, readMaxBytes: number, lengthHint: string | null): Promise<Uint8Array> {
  const hint = lengthHint === null ? NaN : Number(lengthHint);
  const hinted = Number.isSafeInteger(hint) && hint >= 0 && /^\d+$/.test(lengthHint ?? "");
  if (hinted && hint > readMaxBytes)
    return Promise.reject(new ConnectError(`message size ${hint} is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (error: ConnectError) => {
      cleanUp();
      stream.resume(); // the rest is not wanted; do not let it sit in flow control
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (hinted && size > hint) return fail(new ConnectError(`protocol error: promised ${hint} bytes, received ${size}`, Code.InvalidArgument));
      if (!hinted && size > readMaxBytes)
        return fail(new ConnectError(`message size is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted));
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanUp();
      if (hinted && size < hint) return reject(new ConnectError(`protocol error: promised ${hint} bytes, received ${size}`, Code.InvalidArgument));
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onClose = () => {
      cleanUp();
      reject(new ConnectError("the request stream ended before its message was received", Code.Canceled));
    };
    const cleanUp = () => {
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.off("close", onClose);
    };
    stream.on("data", onData);
    stream.once("end", onEnd);
    stream.once("close", onClose);
  });
}

/**
 * The call's AbortSignal: aborted when the client resets the stream (with connect-es's codes), at
 * the deadline, and when the call ends (as connect-es does, so listeners do not outlive the call).
 * One controller instead of connect-es's three linked ones, and no DOMException per call.
 */
class CallSignal {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  readonly signal = this.controller.signal;

  constructor(private readonly stream: http2.ServerHttp2Stream) {
    // Left registered once the call ended (the stream closes right after; removing it costs more).
    stream.once("close", () => this.abort(resetError(stream.rstCode) ?? STREAM_CLOSED));
  }

  deadline(ms: number): void {
    if (ms <= 0) this.abort(TIMED_OUT());
    else this.timer = setTimeout(() => this.abort(TIMED_OUT()), ms);
  }

  end(reason: unknown = CALL_ENDED): void {
    this.abort(reason);
  }

  private abort(reason: unknown): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }
}

const TIMED_OUT = () => new ConnectError("the operation timed out", Code.DeadlineExceeded);
/** Shared reasons: building an error (a stack trace) per call is a measurable share of a call's CPU. */
const CALL_ENDED = new ConnectError("the call ended", Code.Canceled);
const STREAM_CLOSED = new ConnectError("the request stream closed", Code.Canceled);

/** connect-node's mapping of HTTP/2 reset codes to Connect codes (NO_ERROR and STREAM_CLOSED map to none). */
const RESET_CODES = new Map<number, [string, Code]>([
  [0x1, ["PROTOCOL_ERROR", Code.Internal]],
  [0x2, ["INTERNAL_ERROR", Code.Internal]],
  [0x3, ["FLOW_CONTROL_ERROR", Code.Internal]],
  [0x4, ["SETTINGS_TIMEOUT", Code.Internal]],
  [0x6, ["FRAME_SIZE_ERROR", Code.Internal]],
  [0x7, ["REFUSED_STREAM", Code.Unavailable]],
  [0x8, ["CANCEL", Code.Canceled]],
  [0x9, ["COMPRESSION_ERROR", Code.Internal]],
  [0xa, ["CONNECT_ERROR", Code.Internal]],
  [0xb, ["ENHANCE_YOUR_CALM", Code.ResourceExhausted]],
  [0xc, ["INADEQUATE_SECURITY", Code.PermissionDenied]],
  [0xd, ["HTTP_1_1_REQUIRED", Code.PermissionDenied]],
]);

function resetError(rstCode: number | undefined): ConnectError | undefined {
  const known = rstCode === undefined ? undefined : RESET_CODES.get(rstCode);
  return known && new ConnectError(`http/2 stream closed with error code ${known[0]} (0x${rstCode!.toString(16)})`, known[1]);
}

function headerValue(value: string | string[] | undefined): string | null {
  return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
}

/** The request's headers as fetch Headers, pseudo-headers left out (as connect-node converts them). */
function webHeaders(headers: http2.IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const key in headers) {
    if (key.charCodeAt(0) === 58 /* ":" */) continue;
    const value = headers[key];
    if (value === undefined) continue;
    if (typeof value === "string") out.append(key, value);
    else for (const v of value) out.append(key, v);
  }
  return out;
}
