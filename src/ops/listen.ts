import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { OpsHandler } from "./http-handler.js";

export interface OpsListenOptions {
  /** Default 0 (any free port). */
  port?: number;
  /** Default 127.0.0.1. Off loopback the dashboard's data needs an admin credential. */
  hostname?: string;
}

export interface OpsServer {
  url: string;
  port: number;
  server: http.Server;
  close(): Promise<void>;
}

/**
 * The ops listener: HTTP/1.1 (Prometheus, kubelet probes, curl and browsers speak it; the main
 * port is HTTP/2 only). Anything the handler does not answer is 404.
 */
export async function listenOpsServer(handler: OpsHandler, options: OpsListenOptions = {}): Promise<OpsServer> {
  const hostname = options.hostname ?? "127.0.0.1";
  const server = http.createServer((req, res) => {
    if (handler(req, res)) return;
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
    res.end("not found\n");
  });
  // Idle keep-alive connections (scrapers) are not held open for long; event streams are responses, not idle.
  server.keepAliveTimeout = 5_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return {
    url: `http://${host}:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
