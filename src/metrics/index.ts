export * from "./host-metrics.js";
