export * from "./service.js";
export * from "./negotiate.js";
export * from "./launch-secrets.js";
