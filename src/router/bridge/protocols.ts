import type { IncomingHttpHeaders } from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { Protocol } from "../../../gen/plugboard/v1/common_pb.js";
import type { WireProtocol } from "../wire-protocol.js";

/**
 * Whether a call in the caller's protocol must be translated for a provider serving `served`
 * (Protocol enum values; empty or absent means gRPC only). Translation always targets gRPC,
 * which every provider serves.
 */
export function needsBridge(caller: WireProtocol, served: readonly number[] | undefined): boolean {
  if (caller === "grpc") return false;
  if (served === undefined || served.length === 0) return true;
  const wanted = caller === "connect-unary" || caller === "connect-stream" ? Protocol.CONNECT : Protocol.GRPC_WEB;
  return !served.includes(wanted);
}

/** The codec a caller uses ("proto", "json", ...), from its content-type or, for Connect GET, the query. */
export function callerCodec(protocol: WireProtocol, headers: IncomingHttpHeaders, rawPath: string): string {
  const ct = headers["content-type"];
  if (ct === undefined) {
    // Connect GET: ?encoding=proto|json
    const m = /[?&]encoding=([^&]*)/.exec(rawPath);
    return m?.[1] ? decodeURIComponent(m[1]).toLowerCase() : "";
  }
  const base = ct.toLowerCase().split(";")[0]!.trim();
  switch (protocol) {
    case "connect-unary":
      return base.slice("application/".length);
    case "connect-stream":
      return base.slice("application/connect+".length);
    default: {
      // application/grpc-web, application/grpc-web+proto, application/grpc-web-text+json ...
      const plus = base.indexOf("+");
      return plus < 0 ? "proto" : base.slice(plus + 1);
    }
  }
}

/**
 * Payloads are never decoded, so only the binary codec can cross protocols: a JSON call to a
 * provider that serves gRPC alone is refused with the codec and protocol the provider accepts.
 */
export function bridgeRefusal(protocol: WireProtocol, headers: IncomingHttpHeaders, rawPath: string, service: string): ConnectError | undefined {
  const codec = callerCodec(protocol, headers, rawPath);
  if (codec === "proto") return undefined;
  return new ConnectError(
    `the provider of ${service} serves gRPC only and registered no descriptors, so it accepts only the proto codec; ` +
      `call it with binary protobuf (not ${codec === "" ? "an unknown codec" : codec}) or over gRPC`,
    Code.InvalidArgument,
  );
}
