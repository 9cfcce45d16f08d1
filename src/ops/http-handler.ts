import { readFileSync } from "node:fs";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { HostMetrics } from "../metrics/host-metrics.js";
import { mayReadFleet, type AdminCheck } from "./access.js";
import type { EventStreams } from "./event-stream.js";
import type { FleetState } from "./fleet-state.js";
import type { Readiness } from "./readiness.js";

type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;
type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;

/** Returns true when it answered the request, false to let the caller dispatch it. */
export type OpsHandler = (req: AnyRequest, res: AnyResponse) => boolean;

/** Probe and scrape paths: anonymous, on the ops listener and (unless disabled) the main port. */
export const PROBE_PATHS = new Set(["/metrics", "/healthz", "/readyz"]);

/** The page and its two files hold no fleet data: the page fetches that from /api with the caller's rights. */
const ASSETS: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/dashboard.js": { file: "dashboard.js", type: "text/javascript; charset=utf-8" },
  "/dashboard.css": { file: "dashboard.css", type: "text/css; charset=utf-8" },
};
const PAGE_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

export function pathOf(url: string | undefined): string {
  const u = url ?? "";
  const q = u.indexOf("?");
  return q < 0 ? u : u.slice(0, q);
}

export interface OpsHandlerDeps {
  metrics: HostMetrics;
  readiness: () => Promise<Readiness>;
  snapshot: () => Promise<FleetState>;
  streams: EventStreams;
  adminCheck: AdminCheck;
}

const assetCache = new Map<string, Buffer>();
function asset(file: string): Buffer {
  let body = assetCache.get(file);
  if (!body) assetCache.set(file, (body = readFileSync(new URL(`./dashboard/${file}`, import.meta.url))));
  return body;
}

/**
 * GET only, exact paths (query ignored). `dashboard: false` (the main port) answers the probe
 * paths only, so nothing here can shadow an RPC path `/<pkg.Service>/<Method>`.
 */
export function createOpsHandler(deps: OpsHandlerDeps, listener: { dashboard: boolean; anonymousOnLoopback: boolean }): OpsHandler {
  const send = (res: AnyResponse, status: number, type: string, body: string | Buffer, head: boolean, extra: Record<string, string> = {}) => {
    (res as http.ServerResponse).writeHead(status, { "content-type": type, "cache-control": "no-store", ...extra });
    if (head) res.end();
    else res.end(body);
  };
  const text = "text/plain; charset=utf-8";

  async function fleet(req: http.IncomingMessage, res: http.ServerResponse, path: string, head: boolean): Promise<void> {
    const access = await mayReadFleet(req, listener.anonymousOnLoopback, deps.adminCheck).catch(() => "unauthenticated" as const);
    if (access === "unauthenticated")
      return send(res, 401, text, "admin credential required: authorization: Bearer <admin credential>\n", head, { "www-authenticate": "Bearer" });
    if (access === "forbidden") return send(res, 403, text, "admin identity required\n", head);
    if (path === "/api/events") return head ? send(res, 200, "text/event-stream", "", true) : deps.streams.open(res);
    send(res, 200, "application/json; charset=utf-8", JSON.stringify(await deps.snapshot()), head);
  }

  return (req, res) => {
    const path = pathOf(req.url);
    const isProbe = PROBE_PATHS.has(path);
    const isDashboard = listener.dashboard && (path in ASSETS || path === "/api/state" || path === "/api/events");
    if (!isProbe && !isDashboard) return false;
    const head = req.method === "HEAD";
    if (req.method !== "GET" && !head) {
      (res as http.ServerResponse).writeHead(405, { allow: "GET, HEAD" });
      res.end();
      return true;
    }
    const fail = (what: string) => () => {
      if (!res.headersSent) send(res, 500, text, `${what} unavailable\n`, head);
      else res.end();
    };
    if (path === "/healthz") send(res, 200, text, "ok\n", head);
    else if (path === "/readyz")
      void deps.readiness().then((r) => send(res, r.ready ? 200 : 503, text, `${r.detail}\n`, head), fail("readiness"));
    else if (path === "/metrics")
      deps.metrics.render().then(({ contentType, body }) => send(res, 200, contentType, body, head), fail("metrics"));
    else if (path in ASSETS) {
      const { file, type } = ASSETS[path]!;
      send(res, 200, type, asset(file), head, PAGE_HEADERS);
    } else void fleet(req as http.IncomingMessage, res as http.ServerResponse, path, head).catch(fail("fleet state"));
    return true;
  };
}
