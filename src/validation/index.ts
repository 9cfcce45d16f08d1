export * from "./fields.js";
export * from "./urls.js";
