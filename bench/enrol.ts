import { createClient } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { HandshakeService } from "../gen/plugboard/v1/handshake_pb.js";
import { RegistryService } from "../gen/plugboard/v1/registry_pb.js";
import { KVService } from "../gen/kv/v1/kv_pb.js";
import { Protocol } from "../gen/plugboard/v1/common_pb.js";
import type { PluginHost } from "../src/host/create.js";

/**
 * Enrols the benchmark's plugins through the host's real RPCs: the provider handshakes
 * (provides KVService at its URL) and registers; the consumer handshakes declaring it requires
 * KVService. Returns the consumer's runtime token for the routed calls.
 */
/** Enrolment tokens for the bench's two plugins, minted by the host child that owns the host. */
export async function enrolmentTokens(host: PluginHost): Promise<BenchEnrolment> {
  return { kv: (await host.issueEnrolmentToken("kv")).token, consumer: (await host.issueEnrolmentToken("consumer")).token };
}
export interface BenchEnrolment {
  kv: string;
  consumer: string;
}

export async function enrol(
  hostUrl: string,
  providerUrl: string,
  cookie: { key: string; value: string },
  tokens: BenchEnrolment,
  /** The protocols the registration declares: all three (as the SDK does: passthrough), or none (gRPC only: Connect callers are translated). */
  protocols: Protocol[] = [Protocol.GRPC, Protocol.GRPC_WEB, Protocol.CONNECT],
): Promise<string> {
  return (await enrolPair(hostUrl, providerUrl, cookie, tokens, protocols)).consumer;
}

/** As `enrol`, returning both runtime tokens (the provider's renews its lease: bench/heartbeat.ts). */
export async function enrolPair(
  hostUrl: string,
  providerUrl: string,
  cookie: { key: string; value: string },
  tokens: BenchEnrolment,
  protocols: Protocol[] = [Protocol.GRPC, Protocol.GRPC_WEB, Protocol.CONNECT],
): Promise<{ consumer: string; provider: string }> {
  const sessionManager = new Http2SessionManager(hostUrl);
  try {
    const transport = createConnectTransport({ baseUrl: hostUrl, httpVersion: "2", sessionManager });
    const handshake = createClient(HandshakeService, transport);
    const registry = createClient(RegistryService, transport);
    const common = { magicCookieKey: cookie.key, magicCookieValue: cookie.value, coreProtocolVersion: 1, appProtocolRanges: ["^1.0.0"], pluginVersion: "1.0.0" };
    const provider = await handshake.handshake({
      ...common,
      pluginName: "kv",
      provides: [{ type: KVService.typeName, version: "1.0.0" }],
      baseUrl: providerUrl,
      enrolmentToken: tokens.kv,
    });
    await registry.register({ serviceType: KVService.typeName, protocols }, { headers: { authorization: `Bearer ${provider.runtimeToken}` } });
    const consumer = await handshake.handshake({
      ...common,
      pluginName: "consumer",
      requires: [{ type: KVService.typeName, versionRange: "^1.0.0" }],
      enrolmentToken: tokens.consumer,
    });
    return { consumer: consumer.runtimeToken, provider: provider.runtimeToken };
  } finally {
    sessionManager.abort();
  }
}
