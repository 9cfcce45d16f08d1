export * from "./service.js";
export * from "./grant-interceptor.js";
