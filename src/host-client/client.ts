import type { DescService } from "@bufbuild/protobuf";
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import type { CommonTransportOptions } from "@connectrpc/connect/protocol";
import { createTransport as connectTransport } from "@connectrpc/connect/protocol-connect";
import { createTransport as grpcTransport } from "@connectrpc/connect/protocol-grpc";
import { createTransport as grpcWebTransport } from "@connectrpc/connect/protocol-grpc-web";
import { compressionGzip } from "@connectrpc/connect-node";
import { HEADER_PROVIDER } from "../protocol/constants.js";
import type { UpstreamTls } from "../router/upstream-pool.js";
import { createCircuitBreakerInterceptor, type BreakerOptions } from "../sdk/circuit-breaker.js";
import { createRetryInterceptor, type RetryOptions } from "../sdk/retry.js";
import { createInProcessRoute, type InProcessRouteDeps } from "./route.js";
import { createUpstreamClient } from "./upstream.js";

export interface HostClientOptions {
  /**
   * Wire protocol towards the provider. Default "grpc", which every provider serves (SDK, connect-go, grpcio,
   * grpc-go); "connect" and "grpc-web" reach only providers that registered them (FailedPrecondition otherwise).
   */
  protocol?: "connect" | "grpc" | "grpc-web";
  /** Route every call to this provider (runtime ID or registration ID). */
  pin?: string;
  /** Off unless given; the SDK's retry (a retried call may go to another provider). */
  retry?: RetryOptions;
  /** Off unless given; the SDK's circuit breaker, per client. */
  circuitBreaker?: BreakerOptions;
  /** Your own interceptors, run first. */
  interceptors?: Interceptor[];
  /** Deadline for calls that set none. */
  timeoutMs?: number;
}

const TRANSPORTS = { connect: connectTransport, grpc: grpcTransport, "grpc-web": grpcWebTransport } as const;
/** Never dialled: every call's URL is replaced by its provider's endpoint. */
const NO_BASE_URL = "http://plugboard-host.invalid";

/** Typed clients for the host app's own calls to its plugins (`host.client(Service)`). */
export function createHostClientFactory(deps: InProcessRouteDeps & { upstreamTls?: UpstreamTls | undefined; maxMessageBytes: number }) {
  const upstream = createUpstreamClient(deps.upstreamTls);
  const routes = {
    connect: createInProcessRoute(deps, "connect"),
    grpc: createInProcessRoute(deps, "grpc"),
    "grpc-web": createInProcessRoute(deps, "grpc-web"),
  };

  function transport(options: HostClientOptions): Transport {
    const pin = options.pin;
    const interceptors: Interceptor[] = [
      ...(options.interceptors ?? []),
      // The breaker sees one outcome per logical call, after retries; each retry is routed afresh.
      ...(options.circuitBreaker ? [createCircuitBreakerInterceptor(options.circuitBreaker)] : []),
      ...(options.retry ? [createRetryInterceptor(options.retry)] : []),
      ...(pin !== undefined
        ? [
            ((next) => (req) => {
              req.header.set(HEADER_PROVIDER, pin);
              return next(req);
            }) satisfies Interceptor,
          ]
        : []),
      routes[options.protocol ?? "grpc"],
    ];
    const common: CommonTransportOptions = {
      httpClient: upstream.httpClient,
      baseUrl: NO_BASE_URL,
      useBinaryFormat: true,
      interceptors,
      acceptCompression: [compressionGzip],
      sendCompression: null,
      compressMinBytes: 1024,
      readMaxBytes: deps.maxMessageBytes,
      writeMaxBytes: deps.maxMessageBytes,
      ...(options.timeoutMs !== undefined ? { defaultTimeoutMs: options.timeoutMs } : {}),
    };
    return TRANSPORTS[options.protocol ?? "grpc"](common);
  }

  return {
    client<S extends DescService>(service: S, options: HostClientOptions = {}): Client<S> {
      return createClient(service, transport(options));
    },
    close: () => upstream.close(),
  };
}
