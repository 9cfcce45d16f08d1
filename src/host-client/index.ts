export { createHostClientFactory, type HostClientOptions } from "./client.js";
export { createHostDiscovery, type DiscoverOptions, type HostWatchEvent } from "./discovery.js";
export { HOST_CALLER } from "./identity.js";
export type { InProcessRouteDeps } from "./route.js";
