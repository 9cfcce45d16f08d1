export * from "./host-policy.js";
export * from "./rbac.js";
export * from "./swappable-rbac.js";
