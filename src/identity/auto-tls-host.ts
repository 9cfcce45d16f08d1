/**
 * The host's side of AutoMTLS: the CA is made on the first `listen({ tls: "auto" })` (creating
 * keys is asynchronous, createPluginHost is not), and each such listener gets a server
 * certificate that is swapped in place (setSecureContext) at half-life.
 */
import type { Http2SecureServer } from "node:http2";
import type { ListenOptions, RunningServer } from "../host/listen.js";
import type { UpstreamTls } from "../router/upstream-pool.js";
import type { Authenticator } from "./identity.js";
import type { AutoTls } from "./auto-tls.js";
import { resolveAutoTlsOptions, type AutoTlsOptions } from "./auto-tls-options.js";

export interface AutoTlsSlot {
  /** Makes the CA on first call; later calls return the same one. */
  start(): Promise<AutoTls>;
  current(): AutoTls | undefined;
  /** Delegates to the CA's authenticator once there is one. */
  readonly authenticator: Authenticator;
  close(): void;
}

export function createAutoTlsSlot(options: AutoTlsOptions | undefined): AutoTlsSlot {
  resolveAutoTlsOptions(options); // option mistakes fail at createPluginHost, not at listen
  let started: Promise<AutoTls> | undefined;
  let auto: AutoTls | undefined;
  return {
    start() {
      // Loaded on first use: a host without AutoMTLS never loads the CA code.
      started ??= import("./auto-tls.js").then(({ createAutoTls }) => createAutoTls(options)).then((a) => (auto = a));
      return started;
    },
    current: () => auto,
    authenticator: async (source) => auto?.authenticator(source),
    close: () => auto?.close(),
  };
}

/**
 * TLS material for the host's outgoing connections to plugin servers (router, health prober):
 * AutoMTLS's CA and current client certificate once it runs, else `fallback`. Getters, because
 * http2.connect reads them at each new connection, so a renewed certificate is used from then on.
 */
export function liveUpstreamTls(slot: AutoTlsSlot, fallback: UpstreamTls | undefined): UpstreamTls {
  const current = () => slot.current()?.clientTls() ?? fallback;
  return {
    get ca() {
      return current()?.ca;
    },
    get cert() {
      return current()?.cert;
    },
    get key() {
      return current()?.key;
    },
  };
}

/**
 * Starts a listener with a server certificate from the AutoMTLS CA; the TLS layer itself refuses
 * clients without a certificate from this CA. The certificate is swapped in place at half-life.
 */
export async function listenWithAutoTls(
  slot: AutoTlsSlot,
  options: ListenOptions,
  listen: (options: ListenOptions) => Promise<RunningServer>,
): Promise<RunningServer> {
  const auto = await slot.start();
  const hostname = options.hostname ?? "127.0.0.1";
  const first = await auto.serverCertificate(hostname);
  const server = await listen({ ...options, tls: { cert: first.certPem, key: first.keyPem, ca: auto.caPem, requestCert: true } });
  const secure = server.server as Http2SecureServer;
  const timer = setInterval(() => {
    auto
      .serverCertificate(hostname)
      .then((next) => secure.setSecureContext({ cert: next.certPem, key: next.keyPem, ca: auto.caPem, minVersion: "TLSv1.2" }))
      .catch(() => undefined); // retried at the next tick
  }, auto.certTtlMs / 2);
  timer.unref();
  const close = server.close;
  return {
    ...server,
    close: () => {
      clearInterval(timer);
      return close();
    },
  };
}
