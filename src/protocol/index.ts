export * from "./constants.js";
export * from "./caller-header.js";
export * from "./health.js";
