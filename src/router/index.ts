export { createRouter } from "./router.js";
export type { Router, RouterOptions, RouteTarget, CallEndInfo } from "./router.js";
export type { UpstreamTls } from "./upstream-pool.js";
export { RetryInfoSchema, rateLimitedError, retryDelayMs, HEADER_RETRY_AFTER } from "./retry-info.js";
export type { RetryInfo } from "./retry-info.js";
export { createRouterRateLimiter } from "../ratelimit/index.js";
export type { RouterRateLimiter } from "../ratelimit/index.js";
