export { tracingEnabled } from "./enabled.js";
export { ATTR as TRACE_ATTRIBUTES } from "./attributes.js";
export { startRoutedCallSpan, type RoutedCallSpan } from "./router-span.js";
export { createClientTracingInterceptor, createServerTracingInterceptor } from "./interceptors.js";
