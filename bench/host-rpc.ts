import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { KVService } from "../gen/kv/v1/kv_pb.js";
import { HandshakeService } from "../gen/plugboard/v1/handshake_pb.js";
import { RegistryService } from "../gen/plugboard/v1/registry_pb.js";
import { BENCH_COOKIE } from "./bench-host-options.js";

/** The host RPCs the scale curves drive, over one HTTP/2 session of their own. */
export interface HostRpc {
  handshake: Client<typeof HandshakeService>;
  registry: Client<typeof RegistryService>;
  close(): void;
}

export function hostRpc(url: string): HostRpc {
  const sessionManager = new Http2SessionManager(url);
  const transport = createConnectTransport({ baseUrl: url, httpVersion: "2", sessionManager });
  return { handshake: createClient(HandshakeService, transport), registry: createClient(RegistryService, transport), close: () => sessionManager.abort() };
}

export const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

/** A handshake as the SDK sends it, proving `name` with its enrolment token; `provides` a KV provider at `baseUrl`. */
export async function handshake(rpc: HostRpc, name: string, enrolmentToken: string, as: { baseUrl: string } | "consumer"): Promise<string> {
  const res = await rpc.handshake.handshake({
    magicCookieKey: BENCH_COOKIE.key,
    magicCookieValue: BENCH_COOKIE.value,
    coreProtocolVersion: 1,
    appProtocolRanges: ["^1.0.0"],
    pluginVersion: "1.0.0",
    pluginName: name,
    enrolmentToken,
    ...(as === "consumer"
      ? { requires: [{ type: KVService.typeName, versionRange: "^1.0.0" }] }
      : { provides: [{ type: KVService.typeName, version: "1.0.0" }], baseUrl: as.baseUrl }),
  });
  return res.runtimeToken;
}

/** Mints `n` enrolment tokens named `<prefix><i>` in a bench/router-host.ts child. */
export async function mintTokens(ask: (command: string) => Promise<string>, prefix: string, n: number): Promise<string[]> {
  return (JSON.parse(await ask(`tokens ${prefix} ${n}`)) as { tokens: string[] }).tokens;
}
