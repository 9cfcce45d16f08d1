export * from "./create.js";
export type { PluginHostOptions } from "./options.js";
export type { Capability, HostContext, Limits } from "./context.js";
export type { ListenOptions, RunningServer } from "./listen.js";
export { createPluginHostWithRedis, createRedisHostState, type RedisHostState, type RedisPluginHostOptions } from "./with-redis.js";
