import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http2";
import { HEADER_AUTHORIZATION } from "../protocol/index.js";
import type { UpstreamTarget } from "./upstream-pool.js";

/** Hop-by-hop (RFC 9110 §7.6.1) and connection-specific headers, never forwarded in either direction. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "te",
  "transfer-encoding",
  "upgrade",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "host",
  "http2-settings",
]);

const PLUGBOARD_PREFIX = "plugboard-";

/**
 * Headers for the upstream request: the caller's headers minus pseudo headers, hop-by-hop,
 * credentials and any `plugboard-*` header (those are the host's to set), plus the new pseudo
 * headers and, when given, the router's signed caller header.
 */
export function upstreamRequestHeaders(
  caller: IncomingHttpHeaders,
  target: UpstreamTarget,
  path: string,
  grpc: boolean,
  callerHeaderName: string | undefined,
  callerHeaderValue: string | undefined,
  traceHeaders?: Record<string, string>,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {
    ":method": caller[":method"] ?? "POST",
    ":scheme": target.scheme,
    ":authority": target.authority,
    ":path": target.pathPrefix === "" ? path : target.pathPrefix + path,
  };
  for (const name in caller) {
    if (name.charCodeAt(0) === 58 /* ":" */) continue;
    if (HOP_BY_HOP.has(name) || name === HEADER_AUTHORIZATION || name.startsWith(PLUGBOARD_PREFIX)) continue;
    out[name] = caller[name];
  }
  // gRPC servers require `te: trailers`; it is the only TE value HTTP/2 allows.
  if (grpc) out["te"] = "trailers";
  if (callerHeaderName !== undefined && callerHeaderValue !== undefined) out[callerHeaderName] = callerHeaderValue;
  // W3C trace context (`traceparent`, `tracestate`) passes through; with tracing on, the router's span replaces it.
  if (traceHeaders) {
    delete out["traceparent"];
    delete out["tracestate"];
    Object.assign(out, traceHeaders);
  }
  return out;
}

/** Pseudo headers of requests: never part of a response (nghttp2 refuses such responses; checked all the same). */
const REQUEST_PSEUDO = [":method", ":scheme", ":authority", ":path", ":protocol"];
const NEVER_DOWNSTREAM = [...HOP_BY_HOP, ...REQUEST_PSEUDO];

/**
 * Response headers or trailers from the provider, minus hop-by-hop ones and request pseudo headers;
 * `:status` is kept. HTTP/2 forbids connection-specific fields, so there is usually nothing to drop:
 * the provider's headers object then passes on as it is (node copies what it sends), without a copy per
 * call. Sensitive-header marks (never-indexed fields) pass on with it.
 */
export function downstreamHeaders(upstream: IncomingHttpHeaders): OutgoingHttpHeaders {
  let clean = true;
  for (let i = 0; i < NEVER_DOWNSTREAM.length; i++) {
    if (upstream[NEVER_DOWNSTREAM[i]!] !== undefined) {
      clean = false;
      break;
    }
  }
  if (clean) return upstream;
  const out: OutgoingHttpHeaders = {};
  for (const name in upstream) {
    if (HOP_BY_HOP.has(name)) continue;
    if (name.charCodeAt(0) === 58 && name !== ":status") continue;
    out[name] = upstream[name];
  }
  return out;
}
