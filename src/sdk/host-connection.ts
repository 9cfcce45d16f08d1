import type * as http2 from "node:http2";
import type { Interceptor, Transport } from "@connectrpc/connect";
import {
  Http2SessionManager,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  type ConnectTransportOptions,
} from "@connectrpc/connect-node";

/** connect-node's session manager interface (NodeHttp2ClientSessionManager, not exported by name). */
interface SessionManager {
  authority: string;
  request(
    method: string,
    path: string,
    headers: http2.OutgoingHttpHeaders,
    options: Omit<http2.ClientSessionRequestOptions, "signal">,
  ): Promise<http2.ClientHttp2Stream>;
  notifyResponseByteRead(stream: http2.ClientHttp2Stream): void;
}

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
  /**
   * New calls go over a new connection (made with the TLS options as they are now, e.g. a renewed
   * certificate); calls in flight finish on the old one, which is closed when its last stream ends.
   */
  rotate(): void;
  close(): void;
}

/** One multiplexed HTTP/2 connection to the host, reopened by the session manager after a drop. */
export function createHostConnection(
  hostUrl: string,
  tls: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer } | undefined,
  maxMessageBytes: number,
): HostConnection {
  // `tls` is read again at every connect, so a renewed certificate written into it is used.
  const open = () => new Http2SessionManager(hostUrl, undefined, tls);
  let current = open();
  const streams = new Map<Http2SessionManager, number>();
  const retired = new Set<Http2SessionManager>();
  const closeIfDone = (manager: Http2SessionManager) => {
    if (retired.has(manager) && !streams.get(manager)) {
      retired.delete(manager);
      streams.delete(manager);
      manager.abort();
    }
  };
  const manager: SessionManager = {
    authority: current.authority,
    async request(method, path, headers, options): Promise<http2.ClientHttp2Stream> {
      const owner = current;
      const stream = await owner.request(method, path, headers, options);
      streams.set(owner, (streams.get(owner) ?? 0) + 1);
      stream.once("close", () => {
        streams.set(owner, (streams.get(owner) ?? 1) - 1);
        closeIfDone(owner);
      });
      return stream;
    },
    notifyResponseByteRead(stream) {
      // Keep-alive bookkeeping; a manager that did not open the stream ignores it.
      current.notifyResponseByteRead(stream);
      for (const old of retired) old.notifyResponseByteRead(stream);
    },
  };
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
    rotate() {
      const old = current;
      current = open();
      retired.add(old);
      closeIfDone(old);
    },
    close() {
      current.abort();
      for (const old of retired) old.abort();
      retired.clear();
      streams.clear();
    },
  };
}
