export { createRequestGuard, markProvenStreams, singleMessageMethods, streamAuthenticatedKey, type RequestGuard, type RequestLimits } from "./request-guard.js";
export { headerListBytes } from "./header-list.js";
export { createSlots, type SlotRefusal, type Slots } from "./slots.js";
export { refuseStream } from "./refuse.js";
