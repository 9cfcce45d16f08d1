export * from "./service.js";
export * from "./select.js";
export * from "./convert.js";
