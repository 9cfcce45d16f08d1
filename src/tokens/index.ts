export * from "./tokens.js";
export * from "./secret-compare.js";
