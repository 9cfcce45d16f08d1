export * from "./tokens.js";
export * from "./secret-compare.js";
export * from "./random-pool.js";
