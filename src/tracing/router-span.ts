import type { IncomingHttpHeaders } from "node:http2";
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type TextMapGetter } from "@opentelemetry/api";
import { ATTR } from "./attributes.js";
import { tracer, tracingEnabled } from "./enabled.js";

const incomingGetter: TextMapGetter<IncomingHttpHeaders> = {
  keys: (headers) => Object.keys(headers),
  get: (headers, key) => headers[key],
};

export interface RoutedCallSpan {
  /** Trace headers for the upstream request (`traceparent`, `tracestate`): the router's span is the provider's parent. */
  readonly upstreamHeaders: Record<string, string>;
  end(info: { code: string; caller?: string | undefined; runtimeId?: string | undefined }): void;
}

/**
 * A server span for one routed call, child of the caller's `traceparent`. Undefined (and free) when no
 * OpenTelemetry SDK is installed: the caller's trace headers are then forwarded untouched.
 */
export function startRoutedCallSpan(headers: IncomingHttpHeaders, service: string, method: string): RoutedCallSpan | undefined {
  if (!tracingEnabled()) return undefined;
  return startCallSpan(propagation.extract(ROOT_CONTEXT, headers, incomingGetter), SpanKind.SERVER, service, method);
}

/**
 * A client span for a call the host app makes itself (`host.client(...)`), child of the app's active span;
 * its trace headers go to the provider. Undefined without an OpenTelemetry SDK.
 */
export function startHostAppCallSpan(service: string, method: string): RoutedCallSpan | undefined {
  if (!tracingEnabled()) return undefined;
  return startCallSpan(context.active(), SpanKind.CLIENT, service, method);
}

function startCallSpan(parent: Context, kind: SpanKind, service: string, method: string): RoutedCallSpan {
  const span: Span = tracer().startSpan(
    `${service}/${method}`,
    { kind, attributes: { [ATTR.rpcSystem]: "connect_rpc", [ATTR.rpcService]: service, [ATTR.rpcMethod]: method } },
    parent,
  );
  const upstreamHeaders: Record<string, string> = {};
  propagation.inject(trace.setSpan(parent, span), upstreamHeaders);
  return {
    upstreamHeaders,
    end({ code, caller, runtimeId }) {
      span.setAttribute(ATTR.code, code);
      if (caller !== undefined) span.setAttribute(ATTR.caller, caller);
      if (runtimeId !== undefined) span.setAttribute(ATTR.providerRuntime, runtimeId);
      if (code !== "ok") span.setStatus({ code: SpanStatusCode.ERROR, message: code });
      span.end();
    },
  };
}

