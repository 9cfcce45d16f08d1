import type { Logger } from "../log/logger.js";
import { isLoopbackHost } from "../validation/urls.js";

/**
 * Tokens and caller headers travel in the clear over http:// (h2c): fine on loopback, a leak
 * anywhere else. Warned once per plugin for each direction, never refused (development setups).
 */
export function warnPlainText(log: Logger, hostUrl: string, serving: { hostname: string; tls: boolean } | undefined): void {
  const host = new URL(hostUrl);
  if (host.protocol === "http:" && !isLoopbackHost(host.hostname))
    log.warn({ hostUrl: host.origin }, "connecting to the host in plain text off loopback: runtime tokens travel unencrypted; use https");
  if (serving && !serving.tls && !isLoopbackHost(serving.hostname))
    log.warn({ bindAddress: serving.hostname }, "serving plain-text h2c off loopback: routed calls travel unencrypted; configure listen.tls");
}
