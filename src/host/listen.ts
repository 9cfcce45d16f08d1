import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { Logger } from "../log/logger.js";
import type { Limits } from "./context.js";
import { isLoopbackHost } from "../validation/urls.js";

export interface ListenOptions {
  port?: number;
  /** Default 127.0.0.1. */
  hostname?: string;
  /** A connection with no traffic and no open stream for this long is closed. Default IDLE_TIMEOUT_MS (120 s). */
  idleTimeoutMs?: number;
  /**
   * Serve TLS (HTTP/2 over TLS). Without it the host serves h2c, meant for loopback. "auto" is
   * AutoMTLS: a throwaway in-memory CA, a host certificate, and a certificate per launched plugin
   * (createPluginHost's `autoTls` tunes it).
   */
  tls?: "auto" | {
    cert: string | Buffer;
    key: string | Buffer;
    /** CA for client certificates (mTLS). */
    ca?: string | Buffer;
    /** Ask for client certificates; unverified ones are refused by the TLS layer. */
    requestCert?: boolean;
  };
}

export interface RunningServer {
  url: string;
  port: number;
  server: http2.Http2Server | http2.Http2SecureServer;
  close(): Promise<void>;
}

/** A connection with no activity for this long is closed (slowloris-style idle sessions). */
export const IDLE_TIMEOUT_MS = 120_000;

type Handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;
/** Takes a stream from the server's raw `'stream'` event (true), or leaves it to the request handler (false). */
export type StreamClaim = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => boolean;

/**
 * Starts an HTTP/2 server (TLS or h2c) with the host's limits applied. With `claimStream`, a stream
 * goes to it first and only the ones it leaves become compat requests for `handler`.
 */
export async function listen(
  handler: Handler | { request: Handler; claimStream: StreamClaim },
  options: ListenOptions,
  limits: Limits,
  logger: Logger,
  /** Says that tokens would travel in clear; the host passes a once-only warning so repeated listens do not repeat it. */
  warnPlainText: (hostname: string) => void = (hostname) =>
    logger.warn({ bindAddress: hostname }, "serving plain-text h2c off loopback: tokens travel unencrypted; configure tls"),
): Promise<RunningServer> {
  const hostname = options.hostname ?? "127.0.0.1";
  if (options.tls === "auto") throw new Error('listen: tls "auto" is resolved by the host (host.listen), not by listen()');
  const request = typeof handler === "function" ? handler : handler.request;
  const settings = { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderListBytes };
  const common = { settings, maxSessionMemory: 32, maxHeaderListPairs: 256 };
  const server = options.tls
    ? http2.createSecureServer(
        {
          ...common,
          cert: options.tls.cert,
          key: options.tls.key,
          ...(options.tls.ca ? { ca: options.tls.ca } : {}),
          requestCert: options.tls.requestCert ?? false,
          rejectUnauthorized: options.tls.requestCert ?? false,
          minVersion: "TLSv1.2",
        },
        request,
      )
    : http2.createServer(common, request);
  if (typeof handler !== "function") claimStreams(server, handler.claimStream);
  if (!options.tls && !isLoopbackHost(hostname)) warnPlainText(hostname);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const sessions = new Set<http2.ServerHttp2Session>();
  const idleTimeoutMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  if (!(idleTimeoutMs > 0)) throw new Error("listen: idleTimeoutMs must be positive");
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    // Idle connections are closed so a slow or silent client (slowloris) cannot hold a session forever.
    // (A server-level setTimeout with a callback would only call it and keep the session: Node destroys
    // the session only when nobody listens.) Open streams keep a session: a quiet Watch is not idleness.
    let open = 0;
    const closed = () => open--; // one closure per session, not per stream
    session.on("stream", (stream) => {
      open++;
      stream.on("close", closed); // "close" comes once: `once` would add a wrapper per stream
    });
    const onIdle = () => {
      if (open === 0) session.destroy();
      else session.setTimeout(idleTimeoutMs, onIdle);
    };
    session.setTimeout(idleTimeoutMs, onIdle);
  });
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return {
    url: `${options.tls ? "https" : "http"}://${host}:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.close();
        // Sessions that do not finish in time are torn down.
        setTimeout(() => sessions.forEach((s) => s.destroy()), 2_000).unref();
      }),
  };
}

/** Puts `claim` in front of the compat listener node installed for the request handler. */
function claimStreams(server: http2.Http2Server | http2.Http2SecureServer, claim: StreamClaim): void {
  const compat = server.listeners("stream") as StreamClaim[];
  server.removeAllListeners("stream");
  server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => {
    if (claim(stream, headers, flags, rawHeaders)) return;
    for (const listener of compat) listener(stream, headers, flags, rawHeaders);
  });
}
