import type * as http2 from "node:http2";
import type { Router } from "../router/router.js";
import type { RequestGuard } from "../server-limits/index.js";
import type { StreamClaim } from "./listen.js";

const ignore = () => undefined;
/** Routed services' methods are never host methods: whether they stream is the provider's business. */
const notSingleMessage = () => false;

/**
 * Routed calls straight from the server's `'stream'` event, without the http2 compat layer's
 * request and response objects (a large share of a routed call's CPU): POST requests to a service
 * that is not one of the host's own. Everything else (host services, probes, Connect GET calls,
 * CONNECT, `expect`) stays with the request handler. The same server limits apply as on that path.
 */
export function routedStreamClaim(router: Router, guard: RequestGuard, isHostService: (service: string) => boolean): StreamClaim {
  const guarded = guard.guardStream((stream, headers, authenticated) => router.handleStream(stream, headers, authenticated), notSingleMessage);
  return (stream: http2.ServerHttp2Stream, headers, flags, rawHeaders) => {
    if (headers[":method"] !== "POST" || headers.expect !== undefined) return false;
    const path = headers[":path"];
    const end = path === undefined ? -1 : path.indexOf("/", 1);
    if (end < 0 || isHostService(path!.slice(1, end))) return false;
    // The compat layer swallows stream errors as well; "close" follows and ends the call.
    stream.on("error", ignore);
    guarded(stream, headers, flags, rawHeaders);
    return true;
  };
}
