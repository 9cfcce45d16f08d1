export * from "./identity.js";
export * from "./bearer.js";
export * from "./compose.js";
export * from "./interceptor.js";
export * from "./token-authenticator.js";
