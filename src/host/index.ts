export * from "./create.js";
export type { PluginHostOptions } from "./options.js";
export type { Capability, HostContext, Limits } from "./context.js";
export type { ListenOptions, RunningServer } from "./listen.js";
export { IDLE_TIMEOUT_MS } from "./listen.js";
export type { OpsServer } from "../ops/index.js";
export { HOST_CALLER, type DiscoverOptions, type HostClientOptions, type HostWatchEvent } from "../host-client/index.js";
