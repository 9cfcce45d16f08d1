import * as http from "node:http";
import type * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { HostMetrics } from "../metrics/host-metrics.js";
import type { Store } from "../store/types.js";

/**
 * Operational endpoints: GET /metrics, /healthz, /readyz. Matched on the exact
 * path only (query ignored) and never for anything else, so they cannot be used
 * to reach an RPC path: RPC paths are `/<pkg.Service>/<Method>` and always go on
 * to the authenticated dispatch.
 */
export const OPS_PATHS = new Set(["/metrics", "/healthz", "/readyz"]);

type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;
type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;

export interface OpsEndpointOptions {
  metrics: HostMetrics;
  store: Store;
  /** How long /readyz waits for store.ping(); default 2 s. */
  readyTimeoutMs?: number;
}

/** Returns true when it answered the request (an ops path), false to let the caller dispatch it. */
export type OpsHandler = (req: AnyRequest, res: AnyResponse) => boolean;

export function pathOf(url: string | undefined): string {
  const u = url ?? "";
  const q = u.indexOf("?");
  return q < 0 ? u : u.slice(0, q);
}

export function createOpsHandler(options: OpsEndpointOptions): OpsHandler {
  const readyTimeoutMs = options.readyTimeoutMs ?? 2_000;

  async function ready(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), readyTimeoutMs);
    });
    try {
      return await Promise.race([options.store.ping().catch(() => false), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  const send = (res: AnyResponse, status: number, contentType: string, body: string, head: boolean) => {
    (res as http.ServerResponse).writeHead(status, { "content-type": contentType, "cache-control": "no-store" });
    if (head) res.end();
    else res.end(body);
  };

  return (req, res) => {
    const path = pathOf(req.url);
    if (!OPS_PATHS.has(path)) return false;
    const head = req.method === "HEAD";
    if (req.method !== "GET" && !head) {
      (res as http.ServerResponse).writeHead(405, { allow: "GET, HEAD" });
      res.end();
      return true;
    }
    const text = "text/plain; charset=utf-8";
    if (path === "/healthz") send(res, 200, text, "ok\n", head);
    else if (path === "/readyz")
      void ready().then((ok) => send(res, ok ? 200 : 503, text, ok ? "ready\n" : "store unavailable\n", head));
    else
      options.metrics
        .render()
        .then(({ contentType, body }) => send(res, 200, contentType, body, head))
        .catch(() => send(res, 500, text, "metrics unavailable\n", head));
    return true;
  };
}

export interface OpsServer {
  url: string;
  port: number;
  server: http.Server;
  close(): Promise<void>;
}

/**
 * A separate HTTP/1.1 listener for the ops endpoints only (Prometheus and kubelet
 * probes speak HTTP/1.1; the main port is HTTP/2 only). Anything else is 404.
 */
export async function listenOps(handler: OpsHandler, options: { port?: number; hostname?: string } = {}): Promise<OpsServer> {
  const server = http.createServer((req, res) => {
    if (handler(req, res)) return;
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
    res.end("not found\n");
  });
  // Idle keep-alive connections (scrapers) are not held open for long.
  server.keepAliveTimeout = 5_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.hostname ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = (options.hostname ?? "127.0.0.1").includes(":") ? `[${options.hostname}]` : (options.hostname ?? "127.0.0.1");
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
