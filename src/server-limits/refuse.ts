import * as http2 from "node:http2";
import type { ConnectError } from "@connectrpc/connect";
import { writeErrorResponse } from "../router/error-response.js";
import { detectProtocol } from "../router/wire-protocol.js";

/**
 * Answers a request the server limits refuse: in the caller's RPC protocol when it speaks one
 * (so clients see a regular ConnectError), else with the plain `httpStatus`. Then the stream is
 * reset (NO_ERROR, after the answer is flushed) so a client cannot keep it open by never ending
 * its request; nothing of the request is read.
 */
export function refuseStream(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  err: ConnectError,
  httpStatus: number,
): void {
  if (stream.destroyed || stream.closed) return;
  if (!stream.headersSent) {
    // A GET is a Connect RPC only with its query-encoded message (a GET /metrics is not).
    const mayBeRpc = headers[":method"] !== "GET" || /[?&]message=/.test(headers[":path"] ?? "");
    const protocol = mayBeRpc ? detectProtocol(headers["content-type"], headers[":method"]) : undefined;
    if (protocol) writeErrorResponse(stream, protocol, headers["content-type"], err);
    else {
      stream.respond({ ":status": httpStatus, "content-type": "text/plain; charset=utf-8" });
      stream.end(err.rawMessage);
    }
    stream.close(http2.constants.NGHTTP2_NO_ERROR);
  } else stream.close(http2.constants.NGHTTP2_CANCEL);
}
