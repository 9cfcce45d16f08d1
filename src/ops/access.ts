import type * as http from "node:http";

/** Who may read fleet data on a listener. */
export type AdminCheck = (headers: Headers) => Promise<"admin" | "unauthenticated" | "forbidden">;

const LOOPBACK_NAMES = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\]|::1)$/i;

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_NAMES.test(hostname);
}

/** The Host header's name without its port. */
function hostHeaderName(req: http.IncomingMessage): string {
  const host = req.headers.host ?? "";
  return host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : (host.split(":")[0] ?? "");
}

export function headersOf(req: http.IncomingMessage): Headers {
  const headers = new Headers();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(key, v);
  }
  return headers;
}

/**
 * On a loopback listener fleet data is served to local callers, but only under a loopback Host
 * header (a web page rebinding its own name to 127.0.0.1 gets nothing). Anywhere else, or when a
 * credential is sent anyway, the caller must be an admin.
 */
export async function mayReadFleet(req: http.IncomingMessage, anonymousOnLoopback: boolean, check: AdminCheck) {
  const headers = headersOf(req);
  if (anonymousOnLoopback && !headers.has("authorization")) {
    return isLoopbackHost(hostHeaderName(req)) ? "admin" : "forbidden";
  }
  return check(headers);
}
