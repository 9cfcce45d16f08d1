import { createNodeHttpClient, Http2SessionManager } from "@connectrpc/connect-node";
import type { UniversalClientFn } from "@connectrpc/connect/protocol";
import type { UpstreamTls } from "../router/upstream-pool.js";

/** HTTP/2 straight to providers, one pooled session per provider origin, with the router's upstream TLS. */
export function createUpstreamClient(tls: UpstreamTls | undefined): { httpClient: UniversalClientFn; close(): void } {
  const sessions = new Map<string, Http2SessionManager>();
  // Passed as is, not copied: the host's TLS material has getters (AutoMTLS renews its client certificate),
  // and http2.connect reads them at each new connection.
  const nodeOptions = tls;
  const sessionFor = (url: string) => {
    const origin = new URL(url).origin;
    let manager = sessions.get(origin);
    if (!manager) {
      manager = new Http2SessionManager(origin, { idleConnectionTimeoutMs: 60_000 }, nodeOptions);
      sessions.set(origin, manager);
    }
    return manager;
  };
  return {
    httpClient: createNodeHttpClient({ httpVersion: "2", sessionProvider: sessionFor }),
    close() {
      for (const manager of sessions.values()) manager.abort();
      sessions.clear();
    },
  };
}
