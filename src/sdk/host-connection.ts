import type { Interceptor, Transport } from "@connectrpc/connect";
import {
  Http2SessionManager,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  type ConnectTransportOptions,
} from "@connectrpc/connect-node";

export type Protocol = "connect" | "grpc" | "grpc-web";

/**
 * connect-es transport options a plugin may set per client (the connection itself, its TLS and the
 * message size limits stay the plugin's). `useBinaryFormat` and `useHttpGet` apply where the protocol has them.
 */
export type ClientTransportOptions = Pick<
  ConnectTransportOptions,
  | "defaultTimeoutMs"
  | "useBinaryFormat"
  | "jsonOptions"
  | "binaryOptions"
  | "acceptCompression"
  | "sendCompression"
  | "compressMinBytes"
  | "useHttpGet"
>;

export interface HostConnection {
  /** A transport to the host in `protocol`; all share one HTTP/2 connection. */
  transport(protocol: Protocol, interceptors: Interceptor[], extra?: ClientTransportOptions): Transport;
  close(): void;
}

/** One multiplexed HTTP/2 connection to the host, reopened by the session manager after a drop. */
export function createHostConnection(
  hostUrl: string,
  tls: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer } | undefined,
  maxMessageBytes: number,
): HostConnection {
  const manager = new Http2SessionManager(hostUrl, undefined, tls);
  return {
    transport(protocol, interceptors, extra = {}) {
      const options = {
        ...extra,
        baseUrl: hostUrl,
        httpVersion: "2" as const,
        sessionManager: manager,
        interceptors,
        readMaxBytes: maxMessageBytes,
        writeMaxBytes: maxMessageBytes,
        ...(tls ? { nodeOptions: tls } : {}),
      };
      if (protocol === "connect") return createConnectTransport(options);
      if (protocol === "grpc") return createGrpcTransport(options);
      return createGrpcWebTransport(options);
    },
    close() {
      manager.abort();
    },
  };
}
