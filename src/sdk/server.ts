import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter, Interceptor, ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { answerMalformedUrls } from "../protocol/request-url-guard.js";
import { callerKey, createCallerInterceptor } from "./caller.js";
import { createServerTracingInterceptor } from "../tracing/interceptors.js";

export interface ServedService {
  service: DescService;
  impl: Partial<ServiceImpl<DescService>>;
}

export interface PluginServerOptions {
  services: readonly ServedService[];
  signingKey: () => Buffer | undefined;
  port: number;
  hostname: string;
  tls?: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer };
  /**
   * Connections whose verified client certificate has another subjectAltName than exactly this are
   * closed (AutoMTLS: only the host's certificate, not another plugin's from the same CA).
   */
  clientSubjectAltName?: string;
  maxMessageBytes: number;
  /** Extra server interceptors, run after the caller check. */
  interceptors?: Interceptor[];
}

export interface PluginServer {
  readonly url: string;
  /** New connections get this certificate (a renewed one); open connections keep theirs. */
  updateTls(tls: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer }): void;
  /** Refuse new calls (REFUSED_STREAM: Unavailable, retried elsewhere by the host) and wait up to `timeoutMs` for in-flight ones; true when all finished. */
  drain(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

type Handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;

/** Serves a plugin's impls over HTTP/2 (h2c on loopback, or TLS); every call needs the host's signed caller header. */
export async function startPluginServer(options: PluginServerOptions): Promise<PluginServer> {
  let draining = false;
  let inFlight = 0;
  let idle: (() => void) | undefined;
  const adapter = answerMalformedUrls(connectNodeAdapter({
    routes: (router: ConnectRouter) => {
      for (const { service, impl } of options.services) router.service(service, impl);
    },
    // The span wraps the caller check too, so refused calls are traced; the router's span is its parent.
    interceptors: [tracedCalls, createCallerInterceptor(options.signingKey), ...(options.interceptors ?? [])],
    readMaxBytes: options.maxMessageBytes,
    writeMaxBytes: options.maxMessageBytes,
  }));
  // Counted at the HTTP level so a streaming response is in flight until its last byte.
  const handler: Handler = (req, res) => {
    // Draining: new calls are refused at the HTTP/2 level (RST_STREAM REFUSED_STREAM, which HTTP/2 guarantees
    // unprocessed), so the host's router retries them once on another provider (a replacement instance) instead
    // of passing on an application-level Unavailable; callers without a retry see Unavailable all the same.
    if (draining) {
      req.stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    inFlight++;
    res.once("close", () => {
      if (--inFlight === 0) idle?.();
    });
    adapter(req, res);
  };
  const settings = { maxConcurrentStreams: 256, maxHeaderListSize: 16 * 1024 };
  const server = options.tls
    ? http2.createSecureServer({ settings, cert: options.tls.cert, key: options.tls.key, ...(options.tls.ca ? { ca: options.tls.ca, requestCert: true, rejectUnauthorized: true } : {}), minVersion: "TLSv1.2" }, handler)
    : http2.createServer({ settings }, handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  const expectedPeer = options.clientSubjectAltName;
  if (options.tls && expectedPeer !== undefined)
    server.on("secureConnection", (socket: TLSSocket) => {
      if (socket.getPeerX509Certificate()?.subjectAltName !== expectedPeer) socket.destroy();
    });
  server.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.hostname.includes(":") ? `[${options.hostname}]` : options.hostname;
  return {
    url: `${options.tls ? "https" : "http"}://${host}:${port}`,
    updateTls(tls) {
      if (!options.tls) throw new Error("updateTls: this plugin server does not serve TLS");
      (server as http2.Http2SecureServer).setSecureContext({ cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca } : {}), minVersion: "TLSv1.2" });
    },
    async drain(timeoutMs) {
      draining = true;
      if (inFlight === 0) return true;
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        timer.unref();
        idle = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        draining = true;
        server.close(() => resolve());
        for (const s of sessions) s.close();
        setTimeout(() => sessions.forEach((s) => s.destroy()), 1_000).unref();
      }),
  };
}

/** A server span per served call, named by the host-verified caller. */
const tracedCalls = createServerTracingInterceptor((values) => values.get(callerKey)?.subject);
