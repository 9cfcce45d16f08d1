export { createPlugin, type Plugin, type ClientOptions, type HealthName } from "./plugin.js";
export { runPlugin, describeStartFailure, EXIT_CODES, type StartFailure } from "./run.js";
export { provide, requireService, type PluginOptions, type Provided, type Required, type TlsFiles } from "./options.js";
export { callerKey, createCallerInterceptor } from "./caller.js";
export { createRetryInterceptor, backoffMs, nextDelayMs, resolveRetryOptions, type RetryOptions } from "./retry.js";
export {
  createCircuitBreaker,
  createCircuitBreakerInterceptor,
  type BreakerOptions,
  type BreakerState,
  type CircuitBreaker,
} from "./circuit-breaker.js";
export type { Protocol, ClientTransportOptions } from "./host-connection.js";
export type { VerifiedCallerClaims } from "../protocol/caller-header.js";
export type { SecretChange, SecretVersion } from "./secret-watch.js";
// The enum `discover` takes; every other generated type is at `plugboard/gen/<path>_pb.js`.
export { SelectionStrategy } from "../../gen/plugboard/v1/registry_pb.js";
