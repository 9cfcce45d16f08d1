import { Code } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { WireProtocol } from "./wire-protocol.js";

/** The `code` of a Connect error body or end-stream message (read only to report how a call ended). */
export const CODE_NAME_RE = /"code"\s*:\s*"([a-z_]+)"/;
const GRPC_STATUS_RE = /grpc-status:\s*(\d+)/i;

/** A `grpc-status` header value as a Connect code name ("ok" for 0, "unknown" for anything unreadable). */
export function grpcStatusName(value: unknown): string {
  const n = Number(Array.isArray(value) ? value[0] : value);
  return n === 0 ? "ok" : Number.isInteger(n) && n in Code ? codeToString(n as Code) : "unknown";
}

/** How a streamed answer ended, from its captured end-of-stream envelope (Connect end-stream message, gRPC-Web trailer frame). */
export function endCodeFromCapture(protocol: WireProtocol, payload: Buffer, fallback: string): string {
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
