import { create } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { HandshakeRequestSchema, HandshakeService, type HandshakeRequest } from "../../gen/plugboard/v1/handshake_pb.js";
import { RegistryService } from "../../gen/plugboard/v1/registry_pb.js";
import { BrokerService } from "../../gen/plugboard/v1/broker_pb.js";
import { LifecycleService } from "../../gen/plugboard/v1/lifecycle_pb.js";
import { AdminService } from "../../gen/plugboard/v1/admin_pb.js";
import { createPluginHost, type PluginHost } from "../../src/host/create.js";
import type { PluginHostOptions } from "../../src/host/options.js";
import type { RunningServer, ListenOptions } from "../../src/host/listen.js";
import { silentLogger } from "../../src/log/logger.js";
import { createTransports, type ProtocolName } from "./transports.js";

/** Fields of a handshake request to override; nested declarations as plain objects. */
export type HandshakeInit = Record<string, unknown>;

export const COOKIE = { key: "PLUGBOARD_TEST", value: "c0ffee-plugins" };

export interface TestHost {
  host: PluginHost;
  server: RunningServer;
  url: string;
  clients(protocol: ProtocolName): {
    handshake: Client<typeof HandshakeService>;
    registry: Client<typeof RegistryService>;
    broker: Client<typeof BrokerService>;
    lifecycle: Client<typeof LifecycleService>;
    admin: Client<typeof AdminService>;
  };
  /**
   * Handshakes as `init.pluginName` (default "kv"), proving the name with a fresh enrolment token
   * unless `init` brings its own proof (launchSecret, enrolmentToken) or says `unproven: true`.
   */
  handshake(
    init?: HandshakeInit & { unproven?: boolean },
    protocol?: ProtocolName,
  ): Promise<{ runtimeId: string; token: string; signingKey: Uint8Array }>;
  /** A one-use enrolment token for `pluginName`, as an operator would mint it. */
  enrol(pluginName?: string): Promise<string>;
  close(): Promise<void>;
}

export function handshakeRequest(init: HandshakeInit = {}): HandshakeRequest {
  return create(HandshakeRequestSchema, {
    magicCookieKey: COOKIE.key,
    magicCookieValue: COOKIE.value,
    coreProtocolVersion: 1,
    appProtocolRanges: ["^1.0.0"],
    pluginName: "kv",
    pluginVersion: "1.0.0",
    ...init,
  } as never);
}

export async function startTestHost(
  options: Partial<PluginHostOptions> = {},
  listenOptions: ListenOptions = {},
  clientTls?: { ca?: string; cert?: string; key?: string },
): Promise<TestHost> {
  // The audit log is kept (its code path runs) but written nowhere, so test output stays readable.
  // Leases off unless a test asks for them: registrations made by hand here send no heartbeats, and a slow
  // run (a loaded machine, mutation testing) outlasting the 10 s default would see them lapse mid-test.
  const host = createPluginHost({
    magicCookie: COOKIE,
    logger: silentLogger(),
    auditLog: { destination: () => undefined },
    registrationLeaseMs: 0,
    ...options,
  });
  const server = await host.listen(listenOptions);
  const transports = createTransports(server.url, clientTls);
  const cache = new Map<ProtocolName, ReturnType<TestHost["clients"]>>();
  const clients = (protocol: ProtocolName) => {
    let set = cache.get(protocol);
    if (!set) {
      const transport = transports.make(protocol);
      set = {
        handshake: createClient(HandshakeService, transport),
        registry: createClient(RegistryService, transport),
        broker: createClient(BrokerService, transport),
        lifecycle: createClient(LifecycleService, transport),
        admin: createClient(AdminService, transport),
      };
      cache.set(protocol, set);
    }
    return set;
  };
  return {
    host,
    server,
    url: server.url,
    clients,
    enrol: async (pluginName = "kv") => (await host.issueEnrolmentToken(pluginName)).token,
    async handshake(init = {}, protocol = "connect") {
      const { unproven, ...fields } = init;
      const bringsProof = fields["launchSecret"] !== undefined || fields["enrolmentToken"] !== undefined;
      if (!unproven && !bringsProof) {
        const name = typeof fields["pluginName"] === "string" ? fields["pluginName"] : "kv";
        // A name the validator refuses cannot be enrolled; the handshake then fails on the name, as intended.
        fields["enrolmentToken"] = await host.issueEnrolmentToken(name).then((t) => t.token, () => "");
      }
      const res = await clients(protocol).handshake.handshake(handshakeRequest(fields));
      return { runtimeId: res.runtimeId, token: res.runtimeToken, signingKey: res.callerSigningKey };
    },
    async close() {
      transports.close();
      await host.close();
    },
  };
}
