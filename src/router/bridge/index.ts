export { bridgeCall } from "./bridge-call.js";
export { bridgeRefusal, needsBridge } from "./protocols.js";
