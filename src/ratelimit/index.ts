export * from "./router-rate-limiter.js";
