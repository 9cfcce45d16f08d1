import http2, { type ClientHttp2Session, type SecureClientSessionOptions } from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";

/** TLS material for https:// providers: CA to trust and the host's client certificate for mTLS. */
export interface UpstreamTls {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
}

export interface UpstreamTarget {
  /** `http://host:port` or `https://host:port`: the pool key. */
  readonly origin: string;
  readonly authority: string;
  readonly scheme: "http" | "https";
  /** Path prefix of the endpoint without trailing slash ("" for none). */
  readonly pathPrefix: string;
}

export interface UpstreamPool {
  /** The live session for an origin, connecting when there is none (or it is closing). */
  session(target: UpstreamTarget): ClientHttp2Session;
  /** Parse (and cache) a provider endpoint base URL. Throws ConnectError(Internal) if unusable. */
  target(endpoint: string): UpstreamTarget;
  /** Drop the origin's session (e.g. it refused a new stream); the next call reconnects. */
  discard(target: UpstreamTarget): void;
  close(): Promise<void>;
}

export interface UpstreamPoolOptions {
  tls?: UpstreamTls;
  /** Parsed endpoints kept (default 1024); the cache is cleared when full. */
  maxCachedEndpoints?: number;
}

/** Large windows so one pooled connection carries many concurrent streams without stalling on flow control. */
const WINDOW_BYTES = 16 * 1024 * 1024;

/**
 * One HTTP/2 session per provider origin, shared by all calls: created on first use, dropped on
 * GOAWAY, error or close (in-flight streams finish on the old one), so the next call reconnects.
 */
export function createUpstreamPool(opts: UpstreamPoolOptions = {}): UpstreamPool {
  const sessions = new Map<string, ClientHttp2Session>();
  const targets = new Map<string, UpstreamTarget>();
  const maxCached = opts.maxCachedEndpoints ?? 1024;
  let closed = false;

  function connect(target: UpstreamTarget): ClientHttp2Session {
    const options: SecureClientSessionOptions = { settings: { initialWindowSize: WINDOW_BYTES } };
    if (target.scheme === "https" && opts.tls) {
      if (opts.tls.ca !== undefined) options.ca = opts.tls.ca;
      if (opts.tls.cert !== undefined) options.cert = opts.tls.cert;
      if (opts.tls.key !== undefined) options.key = opts.tls.key;
    }
    const session = http2.connect(target.origin, options);
    const forget = () => {
      if (sessions.get(target.origin) === session) sessions.delete(target.origin);
    };
    // A session closed while it connected (the pool closed, or it was discarded) is destroyed by then: setting its window would throw.
    session.on("connect", () => {
      if (!session.destroyed) session.setLocalWindowSize(WINDOW_BYTES);
    });
    // Stream-level errors reach each call; the session error only needs to evict it (and not crash).
    session.on("error", forget);
    session.on("goaway", forget);
    session.on("close", forget);
    // The pool must not keep the process alive by itself.
    session.unref();
    sessions.set(target.origin, session);
    return session;
  }

  return {
    session(target) {
      if (closed) throw new ConnectError("router is closed", Code.Unavailable);
      const s = sessions.get(target.origin);
      if (s !== undefined && !s.closed && !s.destroyed) return s;
      return connect(target);
    },
    discard(target) {
      const s = sessions.get(target.origin);
      if (s === undefined) return;
      sessions.delete(target.origin);
      // In-flight streams finish; the session goes when they do.
      if (!s.closed && !s.destroyed) s.close();
    },
    target(endpoint) {
      const cached = targets.get(endpoint);
      if (cached) return cached;
      let url: URL;
      try {
        url = new URL(endpoint);
      } catch {
        throw new ConnectError("provider endpoint is not a valid URL", Code.Internal);
      }
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        throw new ConnectError("provider endpoint must be http:// or https://", Code.Internal);
      }
      if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
        throw new ConnectError("provider endpoint must not have query, fragment or credentials", Code.Internal);
      }
      const target: UpstreamTarget = {
        origin: url.origin,
        authority: url.host,
        scheme: url.protocol === "https:" ? "https" : "http",
        pathPrefix: url.pathname.replace(/\/+$/, ""),
      };
      if (targets.size >= maxCached) targets.clear();
      targets.set(endpoint, target);
      return target;
    },
    async close() {
      closed = true;
      const all = [...sessions.values()];
      sessions.clear();
      await Promise.all(
        all.map(
          (s) =>
            new Promise<void>((resolve) => {
              if (s.closed || s.destroyed) return resolve();
              s.close(() => resolve());
            }),
        ),
      );
    },
  };
}
