import { ProxyTracerProvider, trace } from "@opentelemetry/api";

/** The provider @opentelemetry/api falls back to when the app registered none. */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/**
 * Whether an OpenTelemetry SDK is installed. Without one, Plugboard skips spans and header propagation
 * entirely: the cost on the router's hot path is this check (one global lookup and two property reads).
 */
export function tracingEnabled(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider && provider.getDelegate() === NOOP_PROVIDER);
}

/** Plugboard's tracer (instrumentation scope "plugboard"). */
export const tracer = () => trace.getTracer("plugboard");
