export * from "./router-rate-limiter.js";
export * from "./swappable.js";
