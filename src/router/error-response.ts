import type { OutgoingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { ConnectError } from "@connectrpc/connect";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  endStreamFlag,
  endStreamToJson,
  errorToJsonBytes,
} from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { encodeGrpcMessage } from "./grpc-message.js";
import type { WireProtocol } from "./wire-protocol.js";

/*
 * Errors the router itself produces (refusals, deadline, provider down), written in the caller's
 * protocol with connect-es' own encoders, so every client sees a regular ConnectError.
 */

const textEncoder = new TextEncoder();

function headersToObject(h: Headers, into: OutgoingHttpHeaders): OutgoingHttpHeaders {
  h.forEach((value, key) => {
    into[key] = value;
  });
  return into;
}

function connectEndStream(err: ConnectError): Uint8Array {
  // endStreamToJson adds the error's own metadata to the trailers given: none here, or each value came twice.
  const json = endStreamToJson(new Headers(), err, undefined);
  return encodeEnvelope(endStreamFlag, textEncoder.encode(JSON.stringify(json)));
}

/** grpc-status, grpc-message (encoded as the gRPC spec asks) and details, as connect-es sets them. */
function grpcStatus(err: ConnectError): Headers {
  const h = setTrailerStatus(new Headers(), err);
  h.set("grpc-message", encodeGrpcMessage(err.rawMessage));
  return h;
}

function grpcWebTrailerFrame(err: ConnectError, text: boolean): Uint8Array | string {
  const frame = encodeEnvelope(trailerFlag, trailerSerialize(grpcStatus(err)));
  return text ? Buffer.from(frame).toString("base64") : frame;
}

/** Write a complete error response; the response headers must not have been sent yet (nothing is written to a closed stream). */
export function writeErrorResponse(
  stream: ServerHttp2Stream,
  protocol: WireProtocol,
  requestContentType: string | undefined,
  err: ConnectError,
): void {
  // A stream closed (reset) but not yet destroyed would throw in respond(): the caller is gone anyway.
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  switch (protocol) {
    case "connect-unary": {
      // Connect unary: HTTP status from the code, JSON error body, error metadata as headers.
      const headers = headersToObject(err.metadata, {
        ":status": codeToHttpStatus(err.code),
        "content-type": "application/json",
      });
      stream.respond(headers);
      stream.end(errorToJsonBytes(err, undefined));
      return;
    }
    case "connect-stream":
      stream.respond({ ":status": 200, "content-type": requestContentType ?? "application/connect+proto" });
      stream.end(connectEndStream(err));
      return;
    case "grpc": {
      // Trailers-only response: status in the one HEADERS frame, END_STREAM set.
      const headers = headersToObject(grpcStatus(err), {
        ":status": 200,
        "content-type": requestContentType ?? "application/grpc+proto",
      });
      stream.respond(headers, { endStream: true });
      return;
    }
    case "grpc-web":
    case "grpc-web-text": {
      const text = protocol === "grpc-web-text";
      stream.respond({
        ":status": 200,
        "content-type": requestContentType ?? (text ? "application/grpc-web-text+proto" : "application/grpc-web+proto"),
      });
      stream.end(grpcWebTrailerFrame(err, text));
      return;
    }
  }
}

/**
 * Finish a response whose headers are already out, at a message boundary, with an error.
 * For gRPC the status goes into HTTP trailers: those are returned for the caller to send.
 */
export function endStreamWithError(
  stream: ServerHttp2Stream,
  protocol: WireProtocol,
  err: ConnectError,
): OutgoingHttpHeaders | undefined {
  switch (protocol) {
    case "connect-stream":
      stream.end(connectEndStream(err));
      return undefined;
    case "grpc-web":
    case "grpc-web-text":
      stream.end(grpcWebTrailerFrame(err, protocol === "grpc-web-text"));
      return undefined;
    case "grpc":
      stream.end();
      return headersToObject(grpcStatus(err), {});
    case "connect-unary":
      // A unary body cannot be finished with an error once it started; callers reset the stream instead.
      return undefined;
  }
}
