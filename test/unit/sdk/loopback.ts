import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { DescService } from "@bufbuild/protobuf";
import { createClient, type Client, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";

export interface Loopback<S extends DescService> {
  readonly url: string;
  /** A client over its own HTTP/2 connection, closed by close(). */
  client(): Client<S>;
  close(): Promise<void>;
}

/**
 * Serves `impl` on 127.0.0.1:0 over h2c, as a stand-in host for the SDK's unit tests. `refuse` may
 * answer a request with an HTTP status before connect-es sees it, as the host's request guard does
 * (401 for a token it does not know).
 */
export async function serveLoopback<S extends DescService>(
  service: S,
  impl: Partial<ServiceImpl<S>>,
  refuse?: (headers: http2.IncomingHttpHeaders) => number | undefined,
): Promise<Loopback<S>> {
  const adapter = connectNodeAdapter({ routes: (router: ConnectRouter) => router.service(service, impl) });
  const server = http2.createServer((req, res) => {
    const status = refuse?.(req.headers);
    if (status === undefined) return adapter(req, res);
    res.writeHead(status);
    res.end();
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const managers: Http2SessionManager[] = [];
  return {
    url,
    client() {
      const manager = new Http2SessionManager(url);
      managers.push(manager);
      return createClient(service, createConnectTransport({ baseUrl: url, httpVersion: "2", sessionManager: manager }));
    },
    async close() {
      for (const m of managers) m.abort();
      await new Promise((r) => setImmediate(r));
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
