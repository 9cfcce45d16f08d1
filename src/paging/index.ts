export * from "./pages.js";
export * from "./wire-size.js";
export * from "./follow.js";
