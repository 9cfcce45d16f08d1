export type * from "./types.js";
export { createMemoryStore } from "./memory.js";
// The Redis store: `plugboard/redis` (ioredis is an optional peer).
