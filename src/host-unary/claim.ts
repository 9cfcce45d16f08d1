import type * as http2 from "node:http2";
import type { TLSSocket } from "node:tls";
import type { DescService } from "@bufbuild/protobuf";
import { createServiceImplSpec, type ConnectRouter, type ContextValues, type ServiceImpl } from "@connectrpc/connect";
import { contentTypeUnaryProto } from "@connectrpc/connect/protocol-connect";
import { requestIdFrom, requestIdKey } from "../audit/request-id.js";
import { HEADER_REQUEST_ID } from "../protocol/constants.js";
import { streamAuthenticatedKey, type RequestGuard } from "../server-limits/index.js";
import { serveConnectUnary, unaryMethod, type ConnectUnaryOptions, type UnaryMethod } from "./connect-unary.js";

/** A raw `'stream'` listener that takes the stream (true) or leaves it to the next one (false). */
export type StreamClaim = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => boolean;

export interface HostUnaryOptions extends ConnectUnaryOptions {
  /** The context values connect-es would give the call (peer certificate, peer address), from the stream. */
  contextValues(stream: http2.ServerHttp2Stream): ContextValues;
  /** The host's server limits, applied as to every other request. */
  guard: RequestGuard;
}

export interface HostUnary {
  /** Pass to connect-es instead of `routes`: records every service it mounts (same implementation objects). */
  routes(routes: (router: ConnectRouter) => void): (router: ConnectRouter) => void;
  /** Claims Connect unary binary POSTs to a recorded unary method; everything else stays with connect-es. */
  claim: StreamClaim;
}

const ignore = () => undefined;

/**
 * The host's own unary methods (Handshake, Register, …) served from the server's raw `'stream'`
 * event, as routed calls already are: the http2 compat layer and connect-es's universal adapters
 * cost several times the methods' own work. Only the common request shape is taken — Connect
 * protocol, binary, POST, no `expect` — and everything else (gRPC, gRPC-Web, JSON, GET, streaming
 * methods, unknown paths) still goes to connect-es, so every protocol keeps working unchanged.
 * The same interceptors, limits and context values apply on both paths.
 */
export function createHostUnary(options: HostUnaryOptions): HostUnary {
  const methods = new Map<string, UnaryMethod>();
  // Every claimed method is unary: its request is one message, bounded in time even once authenticated.
  const guarded = options.guard.guardStream((stream, headers, authenticated) => {
    const path = headers[":path"]!;
    // The request's id (echoed in a header) and its stream's admission, as createRequestScopes gives connect-es.
    const requestId = requestIdFrom(headers);
    const values = options.contextValues(stream).set(requestIdKey, requestId).set(streamAuthenticatedKey, authenticated);
    const source = { stream, headers, values, url: urlOf(stream, headers, path), responseHeaders: { [HEADER_REQUEST_ID]: requestId } };
    void serveConnectUnary(methods.get(path)!, source, options).catch(() => stream.close());
  }, () => true);
  const record = (service: DescService, impl: Partial<ServiceImpl<DescService>>) => {
    const spec = createServiceImplSpec(service, impl);
    for (const m of Object.values(spec.methods))
      if (m.kind === "unary") methods.set(`/${service.typeName}/${m.method.name}`, unaryMethod(m, options));
  };
  return {
    routes: (routes) => (router) =>
      routes({
        get handlers() {
          return router.handlers;
        },
        service(service, impl, serviceOptions) {
          // A service with options of its own (other interceptors or limits) stays with connect-es.
          if (serviceOptions === undefined) record(service, impl as Partial<ServiceImpl<DescService>>);
          return router.service(service, impl, serviceOptions);
        },
        rpc(...args: Parameters<ConnectRouter["rpc"]>) {
          return router.rpc(...args);
        },
      } as ConnectRouter),
    claim(stream, headers, flags, rawHeaders) {
      if (headers[":method"] !== "POST" || headers.expect !== undefined || headers["content-type"] !== contentTypeUnaryProto) return false;
      const path = headers[":path"];
      if (path === undefined || !methods.has(path)) return false;
      // The compat layer swallows stream errors as well; "close" follows and ends the call.
      stream.on("error", ignore);
      guarded(stream, headers, flags, rawHeaders);
      return true;
    },
  };
}

/** The request URL as connect-node builds it (scheme from the socket, authority from the request). */
function urlOf(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, path: string): string {
  const encrypted = (stream.session?.socket as Partial<TLSSocket> | undefined)?.encrypted === true;
  return `${encrypted ? "https" : "http"}://${headers[":authority"] ?? headers.host ?? ""}${path}`;
}
