import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http2";
import type { WireProtocol } from "../wire-protocol.js";

/*
 * Header translation between Connect / gRPC-Web callers and gRPC providers. Application headers
 * pass through unchanged (binary `-bin` values are base64 in every protocol); only the protocol's
 * own headers are renamed.
 */

/** Caller headers that name the caller's protocol; replaced by their gRPC equivalents. */
const CALLER_PROTOCOL_HEADERS = new Set([
  "content-type",
  "content-length",
  "content-encoding",
  "accept-encoding",
  "connect-protocol-version",
  "connect-timeout-ms",
  "connect-content-encoding",
  "connect-accept-encoding",
  "grpc-timeout",
  "x-grpc-web",
  "x-user-agent",
]);

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The request compression named by the caller ("gzip"), or undefined for identity. */
export function callerRequestEncoding(protocol: WireProtocol, headers: IncomingHttpHeaders, rawPath: string): string | undefined {
  let enc: string | undefined;
  if (protocol === "connect-unary") {
    enc = headers[":method"] === "GET" ? /[?&]compression=([^&]*)/.exec(rawPath)?.[1] : first(headers["content-encoding"]);
  } else if (protocol === "connect-stream") enc = first(headers["connect-content-encoding"]);
  else enc = first(headers["grpc-encoding"]);
  return enc === undefined || enc === "" || enc === "identity" ? undefined : enc;
}

/** Rewrite the upstream request headers (already cleaned by header hygiene) for a gRPC provider. */
export function toGrpcRequestHeaders(
  out: OutgoingHttpHeaders,
  protocol: WireProtocol,
  caller: IncomingHttpHeaders,
  rawPath: string,
  timeoutMs: number | undefined,
): OutgoingHttpHeaders {
  for (const name of CALLER_PROTOCOL_HEADERS) delete out[name];
  const q = rawPath.indexOf("?");
  if (q >= 0) out[":path"] = String(out[":path"]).slice(0, String(out[":path"]).length - (rawPath.length - q));
  out[":method"] = "POST";
  out["content-type"] = "application/grpc+proto";
  out["te"] = "trailers";
  const encoding = callerRequestEncoding(protocol, caller, rawPath);
  if (encoding !== undefined) out["grpc-encoding"] = encoding;
  const accept =
    protocol === "connect-unary"
      ? first(caller["accept-encoding"])
      : protocol === "connect-stream"
        ? first(caller["connect-accept-encoding"])
        : first(caller["grpc-accept-encoding"]);
  if (accept !== undefined) out["grpc-accept-encoding"] = accept;
  // The router's remaining deadline, in the gRPC unit; the router enforces it too.
  if (timeoutMs !== undefined) out["grpc-timeout"] = `${Math.max(1, Math.ceil(timeoutMs))}m`;
  return out;
}

/** gRPC response-header names that are protocol, not metadata. */
const GRPC_RESPONSE_PROTOCOL = new Set([
  "content-type",
  "content-length",
  "grpc-encoding",
  "grpc-accept-encoding",
  "grpc-status",
  "grpc-message",
  "grpc-status-details-bin",
  "te",
  "trailer",
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
]);

/** Application metadata of gRPC response headers or trailers (pseudo and protocol headers removed). */
export function grpcMetadata(h: IncomingHttpHeaders): [string, string][] {
  const out: [string, string][] = [];
  for (const name in h) {
    if (name.charCodeAt(0) === 58 || GRPC_RESPONSE_PROTOCOL.has(name)) continue;
    const v = h[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push([name, x]);
    else out.push([name, v]);
  }
  return out;
}

/** Add metadata entries to outgoing headers (repeated names become arrays). */
export function addHeaders(out: OutgoingHttpHeaders, entries: [string, string][], prefix = ""): OutgoingHttpHeaders {
  for (const [k, v] of entries) {
    const name = prefix + k;
    const prev = out[name];
    if (prev === undefined) out[name] = v;
    else out[name] = Array.isArray(prev) ? [...prev, v] : [String(prev), v];
  }
  return out;
}

/** WHATWG Headers of gRPC trailers, for connect-es' status helpers. */
export function toFetchHeaders(h: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const name in h) {
    if (name.charCodeAt(0) === 58) continue;
    const v = h[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.append(name, x);
    else out.append(name, v);
  }
  return out;
}

/** The response encoding a gRPC provider used, or undefined for identity. */
export function grpcResponseEncoding(h: IncomingHttpHeaders): string | undefined {
  const e = first(h["grpc-encoding"]);
  return e === undefined || e === "" || e === "identity" ? undefined : e;
}
