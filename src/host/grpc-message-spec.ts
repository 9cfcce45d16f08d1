import type * as http2 from "node:http2";
import { encodeGrpcMessage } from "../router/grpc-message.js";

function respec(headers: http2.OutgoingHttpHeaders | undefined): void {
  const value = headers?.["grpc-message"];
  if (typeof value !== "string") return;
  let text = value;
  try {
    text = decodeURIComponent(value);
  } catch {
    return; // not connect-es' encoding: leave it as it is
  }
  headers!["grpc-message"] = encodeGrpcMessage(text);
}

/**
 * Host RPCs over gRPC: connect-es writes grpc-message with encodeURIComponent (`%3A`, `%20`...);
 * re-encode it as the gRPC spec asks, so grpc-js callers read the text as written. Only gRPC
 * requests are touched (gRPC-Web carries its status in the body, read by decodeURIComponent clients).
 */
export function withSpecGrpcMessage(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): http2.Http2ServerResponse {
  const ct = req.headers["content-type"];
  if (typeof ct !== "string" || !ct.startsWith("application/grpc") || ct.startsWith("application/grpc-web")) return res;
  const writeHead = res.writeHead.bind(res) as (status: number, headers?: http2.OutgoingHttpHeaders) => http2.Http2ServerResponse;
  res.writeHead = ((status: number, headers?: http2.OutgoingHttpHeaders) => {
    respec(headers);
    return writeHead(status, headers);
  }) as typeof res.writeHead;
  const addTrailers = res.addTrailers.bind(res);
  res.addTrailers = (trailers) => {
    respec(trailers as http2.OutgoingHttpHeaders);
    addTrailers(trailers);
  };
  return res;
}
