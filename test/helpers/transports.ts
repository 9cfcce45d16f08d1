import { Http2SessionManager, createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import type { Transport } from "@connectrpc/connect";

export type ProtocolName = "connect" | "grpc" | "grpc-web";
export const PROTOCOLS: ProtocolName[] = ["connect", "grpc", "grpc-web"];

/**
 * Real HTTP/2 client transports. Every transport gets its own session manager so
 * the test can close its sessions (an http2 server does not close while clients hold them).
 */
export function createTransports(baseUrl: string, tls?: { ca?: string; cert?: string; key?: string }) {
  const managers: Http2SessionManager[] = [];
  const make = (protocol: ProtocolName): Transport => {
    const manager = new Http2SessionManager(baseUrl, undefined, tls);
    managers.push(manager);
    const options = { baseUrl, httpVersion: "2" as const, sessionManager: manager, ...(tls ? { nodeOptions: tls } : {}) };
    if (protocol === "connect") return createConnectTransport(options);
    if (protocol === "grpc") return createGrpcTransport(options);
    return createGrpcWebTransport(options);
  };
  return {
    make,
    close() {
      for (const manager of managers) manager.abort();
    },
  };
}

export function bearer(token: string): { headers: Record<string, string> } {
  return { headers: { authorization: `Bearer ${token}` } };
}
