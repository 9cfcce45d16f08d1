import { isIP } from "node:net";
import { invalid } from "./fields.js";

/**
 * URL rules for where the router may send traffic. A plugin names its base URL
 * at handshake; the host only accepts hosts it trusts (loopback by default), so a
 * plugin cannot point the router at arbitrary addresses (SSRF).
 */

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "");
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  if (isIP(host) === 6) return host === "::1";
  return false;
}

/** `*.example.internal` matches one or more labels before `.example.internal`. */
function hostAllowed(hostname: string, allowed: readonly string[]): boolean {
  const host = hostname.toLowerCase();
  return allowed.some((pattern) => {
    const p = pattern.toLowerCase();
    return p.startsWith("*.") ? host.endsWith(p.slice(1)) && host.length > p.length - 1 : host === p;
  });
}

export interface BaseUrlRules {
  allowedEndpointHosts: readonly string[];
  maxBytes: number;
}

/** Parses and checks a plugin's base URL; returns it normalised without a trailing slash. */
export function validateBaseUrl(field: string, value: string, rules: BaseUrlRules): string {
  if (Buffer.byteLength(value) > rules.maxBytes) throw invalid(field, `longer than ${rules.maxBytes} bytes`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(field, "not a URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw invalid(field, "must be http or https");
  if (url.username || url.password) throw invalid(field, "must not carry credentials");
  if (url.search || url.hash) throw invalid(field, "must not have a query or fragment");
  if (!isLoopbackHost(url.hostname) && !hostAllowed(url.hostname, rules.allowedEndpointHosts))
    throw invalid(field, "host is not loopback and not in the host's allowedEndpointHosts");
  if (url.protocol === "http:" && !isLoopbackHost(url.hostname))
    throw invalid(field, "plain http is only accepted on loopback; use https");
  return url.origin + url.pathname.replace(/\/+$/, "");
}

/** An endpoint must lie inside the base URL: same origin, and a path under the base path. */
export function validateEndpointWithin(field: string, endpoint: string, baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw invalid(field, "not a URL");
  }
  const base = new URL(baseUrl);
  const path = url.pathname.replace(/\/+$/, "");
  const basePath = base.pathname.replace(/\/+$/, "");
  const inside = path === basePath || path.startsWith(basePath + "/");
  if (url.origin !== base.origin || !inside || url.username || url.password || url.search || url.hash)
    throw invalid(field, "must lie inside the plugin's declared base URL");
  if (path.split("/").some((segment) => segment === ".." || segment === "."))
    throw invalid(field, "must not contain dot segments");
  return url.origin + path;
}
