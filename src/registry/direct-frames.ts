import type * as http2 from "node:http2";
import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import { isBinaryCodec } from "./encoded-once.js";

/**
 * The HTTP/2 stream a host RPC arrived on, set by the host in connect-es's contextValues (undefined
 * over HTTP/1.1 or when the host's handler is mounted elsewhere). Only the Watch handler uses it.
 */
export const requestStreamKey = createContextKey<http2.ServerHttp2Stream | undefined>(undefined, { description: "the request's HTTP/2 stream" });

/**
 * One length-prefixed message as Connect streaming, gRPC and gRPC-Web all frame data on the wire:
 * flags (0: uncompressed data; each message says, so this is valid whatever encoding was
 * negotiated), the length as 32-bit big-endian, the bytes.
 */
export function dataFrame(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.byteLength);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.byteLength, 1);
  frame.set(message, 5);
  return frame;
}

/**
 * The stream a Watch may write its events to as ready-made frames, skipping connect-es's per-message
 * pipeline (interceptors' stream wrappers, serialization, envelope, the compat response): binary
 * codecs over HTTP/2 only (JSON streams get their own encoding through connect-es). Asked once the
 * snapshot went through connect-es, so the response headers are out and the stream's bytes so far
 * are in order; undefined when the stream cannot take writes any more.
 */
export function directStreamOf(context: HandlerContext): http2.ServerHttp2Stream | undefined {
  if (!isBinaryCodec(context.requestHeader.get("content-type"))) return undefined;
  const stream = context.values.get(requestStreamKey);
  if (!stream || !stream.headersSent || stream.destroyed || stream.writableEnded) return undefined;
  return stream;
}
