import { ConnectError, type ContextValues, type Interceptor } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { context, propagation, SpanKind, SpanStatusCode, trace, type TextMapGetter, type TextMapSetter } from "@opentelemetry/api";
import { ATTR } from "./attributes.js";
import { tracer, tracingEnabled } from "./enabled.js";

const headersGetter: TextMapGetter<Headers> = {
  keys: (headers) => [...headers.keys()],
  get: (headers, key) => headers.get(key) ?? undefined,
};
const headersSetter: TextMapSetter<Headers> = { set: (headers, key, value) => headers.set(key, value) };

/**
 * A server span around each call (child of the request's `traceparent`), with the handler running in
 * its context so the calls it makes carry it on. `callerOf` names the caller once the call has run
 * (identity is resolved by interceptors further in). Does nothing without an OpenTelemetry SDK.
 */
export function createServerTracingInterceptor(callerOf: (contextValues: ContextValues) => string | undefined): Interceptor {
  return (next) => async (req) => {
    if (!tracingEnabled()) return next(req);
    const parent = propagation.extract(context.active(), req.header, headersGetter);
    const service = req.service.typeName;
    const span = tracer().startSpan(
      `${service}/${req.method.name}`,
      { kind: SpanKind.SERVER, attributes: { [ATTR.rpcSystem]: "connect_rpc", [ATTR.rpcService]: service, [ATTR.rpcMethod]: req.method.name } },
      parent,
    );
    let code = "ok";
    try {
      return await context.with(trace.setSpan(parent, span), () => next(req));
    } catch (e) {
      code = codeToString(ConnectError.from(e).code);
      span.setStatus({ code: SpanStatusCode.ERROR, message: code });
      throw e;
    } finally {
      span.setAttribute(ATTR.code, code);
      const caller = callerOf(req.contextValues);
      if (caller !== undefined) span.setAttribute(ATTR.caller, caller);
      span.end();
    }
  };
}

/** Sends the active trace context (`traceparent`, `tracestate`) with each call. Does nothing without an OpenTelemetry SDK. */
export function createClientTracingInterceptor(): Interceptor {
  return (next) => (req) => {
    if (tracingEnabled()) propagation.inject(context.active(), req.header, headersSetter);
    return next(req);
  };
}
