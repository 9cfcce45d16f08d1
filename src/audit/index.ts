export * from "./audit.js";
export * from "./audit-log.js";
export * from "./request-id.js";
export * from "./plugin-process.js";
export * from "./auth-failure-interceptor.js";
