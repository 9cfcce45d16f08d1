export * from "./host/index.js";
export * from "./protocol/index.js";
export * from "./identity/index.js";
export * from "./store/index.js";
export * from "./tokens/index.js";
export * from "./policy/index.js";
export * from "./audit/index.js";
export * from "./log/index.js";
