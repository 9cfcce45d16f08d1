import { Code, ConnectError } from "@connectrpc/connect";
import { parseTimeout as parseConnectTimeout } from "@connectrpc/connect/protocol-connect";
import { parseTimeout as parseGrpcTimeout } from "@connectrpc/connect/protocol-grpc";
import type { IncomingHttpHeaders } from "node:http2";

/** The RPC protocol a caller speaks; errors the router writes itself must be in this protocol. */
export type WireProtocol = "connect-unary" | "connect-stream" | "grpc" | "grpc-web" | "grpc-web-text";

/**
 * Detect the protocol from the request content-type (and method: Connect GET requests have none).
 * Returns undefined for anything that is not an RPC.
 */
export function detectProtocol(contentType: string | undefined, method: string | undefined): WireProtocol | undefined {
  if (contentType === undefined) return method === "GET" ? "connect-unary" : undefined;
  const ct = contentType.toLowerCase();
  if (!ct.startsWith("application/")) return undefined;
  if (ct.startsWith("grpc-web-text", 12)) return "grpc-web-text";
  if (ct.startsWith("grpc-web", 12)) return "grpc-web";
  if (ct.startsWith("grpc", 12)) return "grpc";
  if (ct.startsWith("connect+", 12)) return "connect-stream";
  if (ct.startsWith("proto", 12) || ct.startsWith("json", 12)) return "connect-unary";
  return undefined;
}

/** Whether the protocol frames messages with the 5-byte envelope prefix (flags + uint32 length). */
export function isEnveloped(protocol: WireProtocol): boolean {
  return protocol === "connect-stream" || protocol === "grpc" || protocol === "grpc-web";
}

/** MAX deadline we accept; larger values are treated as "no deadline" by clamping (gRPC allows ~3 years). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * The caller's deadline in ms from now, undefined when none, or an InvalidArgument error.
 * Connect uses `connect-timeout-ms`, gRPC and gRPC-Web `grpc-timeout`.
 */
export function callerTimeoutMs(protocol: WireProtocol, headers: IncomingHttpHeaders): number | undefined | ConnectError {
  const connect = protocol === "connect-unary" || protocol === "connect-stream";
  const raw = headers[connect ? "connect-timeout-ms" : "grpc-timeout"];
  if (raw === undefined) return undefined;
  const value = Array.isArray(raw) ? raw[0] ?? null : raw;
  const parsed = connect ? parseConnectTimeout(value, Number.MAX_SAFE_INTEGER) : parseGrpcTimeout(value, Number.MAX_SAFE_INTEGER);
  if (parsed.error) return new ConnectError(parsed.error.rawMessage, Code.InvalidArgument);
  if (parsed.timeoutMs === undefined) return undefined;
  return Math.min(Math.max(1, Math.ceil(parsed.timeoutMs)), MAX_TIMEOUT_MS);
}
