export * from "./host-policy.js";
export * from "./rbac.js";
