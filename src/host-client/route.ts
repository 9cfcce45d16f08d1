import { startHostAppCallSpan } from "../tracing/router-span.js";
import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { HEADER_CALLER, HEADER_PROVIDER } from "../protocol/constants.js";
import type { RouterRateLimiter } from "../ratelimit/index.js";
import { createCallerSigner } from "../router/caller-signer.js";
import { rateLimitedError } from "../router/retry-info.js";
import type { CallEndInfo, RouteTarget } from "../router/router.js";
import { HOST_CALLER } from "./identity.js";
import { Protocol } from "../../gen/plugboard/v1/common_pb.js";

export interface InProcessRouteDeps {
  /** Throws PermissionDenied when the host app may not call this method (policy, RBAC). */
  authorize(serviceType: string, method: string): void;
  resolve(serviceType: string, pin: string | undefined): RouteTarget | Promise<RouteTarget>;
  rateLimiter?: RouterRateLimiter | undefined;
  onCallStart?(info: { service: string; method: string; runtimeId: string }): void;
  onCallEnd?(info: CallEndInfo): void;
}

const codeOf = (e: unknown) => codeToString(ConnectError.from(e).code);

/**
 * The router's decisions for a call the host app makes itself, taken in-process: authorise,
 * rate-limit, pick a provider (health, version, pin), sign the caller header for that provider,
 * then send the request straight to it — no round trip through the host's own server. Every
 * call is counted like a routed one (metrics, audit, in-flight for drains).
 */
export function createInProcessRoute(deps: InProcessRouteDeps, protocol: "connect" | "grpc" | "grpc-web" = "grpc"): Interceptor {
  const signer = createCallerSigner();
  // The host app's calls go straight to the provider, untranslated: it must serve the client's protocol.
  const needed = protocol === "connect" ? Protocol.CONNECT : protocol === "grpc-web" ? Protocol.GRPC_WEB : undefined;
  return (next) => async (req) => {
    const service = req.service.typeName;
    const method = req.method.name;
    const started = performance.now();
    let runtimeId: string | undefined;
    let ended = false;
    const span = startHostAppCallSpan(service, method);
    const end = (code: string) => {
      if (ended) return;
      ended = true;
      span?.end({ code, caller: HOST_CALLER.subject, runtimeId });
      deps.onCallEnd?.({ service, method, caller: HOST_CALLER, code, durationMs: performance.now() - started, ...(runtimeId ? { runtimeId } : {}) });
    };
    let target: RouteTarget;
    try {
      deps.authorize(service, method);
      if (deps.rateLimiter) {
        const decision = await deps.rateLimiter.consume(HOST_CALLER.subject, service).catch(() => {
          throw new ConnectError("rate limiter unavailable", Code.Unavailable);
        });
        if (!decision.ok) throw rateLimitedError(decision.retryAfterMs);
      }
      target = await deps.resolve(service, req.header.get(HEADER_PROVIDER) ?? undefined);
      if (needed !== undefined && !target.protocols?.includes(needed)) {
        throw new ConnectError(
          `the provider of ${service} serves gRPC only (its registration's protocols): use host.client(service, { protocol: "grpc" })`,
          Code.FailedPrecondition,
        );
      }
    } catch (e) {
      end(codeOf(e));
      throw e;
    }
    runtimeId = target.runtimeId;
    const procedure = `/${service}/${method}`;
    req.header.delete(HEADER_PROVIDER);
    req.header.set(HEADER_CALLER, signer.sign(HOST_CALLER, procedure, target.signingKey));
    if (span) for (const [name, value] of Object.entries(span.upstreamHeaders)) req.header.set(name, value);
    deps.onCallStart?.({ service, method, runtimeId });
    try {
      const res = await next({ ...req, url: target.endpoint + procedure });
      if (!res.stream) {
        end("ok");
        return res;
      }
      return { ...res, message: finishing(res.message, end) } as StreamResponse;
    } catch (e) {
      end(codeOf(e));
      throw e;
    }
  };
}

/** A response stream that reports its end (ok, error, or the caller stopping early: canceled). */
async function* finishing<T>(messages: AsyncIterable<T>, end: (code: string) => void): AsyncGenerator<T> {
  let outcome = "canceled";
  try {
    for await (const m of messages) yield m;
    outcome = "ok";
  } catch (e) {
    outcome = codeOf(e);
    throw e;
  } finally {
    end(outcome);
  }
}
