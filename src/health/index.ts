export * from "./grpc-health.js";
export * from "./prober.js";
