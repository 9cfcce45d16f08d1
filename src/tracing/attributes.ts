/** Span attribute names: OpenTelemetry's RPC conventions where they exist, `plugboard.*` for the rest. */
export const ATTR = {
  rpcSystem: "rpc.system",
  rpcService: "rpc.service",
  rpcMethod: "rpc.method",
  /** The caller's policy subject (`runtime:…`, `spiffe://…`, `host`, a plugin name). */
  caller: "plugboard.caller",
  /** The provider runtime a routed call was forwarded to. */
  providerRuntime: "plugboard.provider.runtime_id",
  /** "ok" or the Connect code name. */
  code: "plugboard.code",
} as const;
