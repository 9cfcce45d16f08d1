export * from "./grpc-health.js";
