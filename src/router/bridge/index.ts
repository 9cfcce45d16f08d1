export { bridgeCall } from "./bridge-call.js";
export { JsonCodec, type MethodSchema } from "./json-codec.js";
export { bridgeRefusal, callerCodec, needsBridge } from "./protocols.js";
