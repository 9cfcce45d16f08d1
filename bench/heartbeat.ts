import { createClient } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { LifecycleService } from "../gen/plugboard/v1/lifecycle_pb.js";

/**
 * Renews a provider's registration lease every `everyMs` (as the SDK does), so a host with leases on
 * (the default) keeps routing to the bench's provider however long the run takes. Returns stop().
 */
export function keepLease(hostUrl: string, providerToken: string, everyMs = 2_000): () => void {
  const sessionManager = new Http2SessionManager(hostUrl);
  const lifecycle = createClient(LifecycleService, createConnectTransport({ baseUrl: hostUrl, httpVersion: "2", sessionManager }));
  const beat = () =>
    lifecycle.heartbeat({}, { headers: { authorization: `Bearer ${providerToken}` } }).catch((e: unknown) => console.error("bench heartbeat:", String(e)));
  const timer = setInterval(beat, everyMs);
  return () => {
    clearInterval(timer);
    sessionManager.abort();
  };
}
