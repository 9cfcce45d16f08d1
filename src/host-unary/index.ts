export { createHostUnary, type HostUnary, type HostUnaryOptions, type StreamClaim } from "./claim.js";
export { serveConnectUnary, unaryMethod, type ConnectUnaryOptions, type UnaryCallSource, type UnaryMethod } from "./connect-unary.js";
