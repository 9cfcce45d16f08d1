import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type ConnectRouter, type Interceptor, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { Health, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { HandshakeService } from "../../gen/plugboard/v1/handshake_pb.js";
import { RegistryService } from "../../gen/plugboard/v1/registry_pb.js";
import type { PluginHost } from "../host/create.js";
import { CORE_PROTOCOL_VERSION, DEFAULT_LIMITS, HEADER_CALLER } from "../protocol/constants.js";
import { verifyCallerHeader } from "../protocol/caller-header.js";
import { answerMalformedUrls } from "../protocol/request-url-guard.js";

/** A service an in-process plugin provides: the descriptor and its implementation (build with `served`). */
export type InProcessProvided = readonly [DescService, object];

/** Pairs a service with its implementation, type-checked against the descriptor. */
export function served<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): InProcessProvided {
  return [service, impl];
}

export interface InProcessPluginOptions {
  name: string;
  /** Default "1.0.0". */
  version?: string;
  /** Where the host listens; the plugin goes through the same handshake as any other. */
  hostUrl: string;
  magicCookie: { key: string; value: string };
  provides: readonly InProcessProvided[];
  requires?: readonly { type: string; versionRange?: string; optional?: boolean }[];
  /** Default ["*"]. */
  appProtocolRanges?: string[];
  /** Default 4 MiB. */
  maxMessageBytes?: number;
}

export interface InProcessPlugin {
  readonly name: string;
  readonly runtimeId: string;
  /** The loopback URL it serves on (reached by the host's router only: calls need the signed caller header). */
  readonly url: string;
  /** Revokes the runtime (registrations go with it), then closes the server once in-flight calls end. */
  stop(): Promise<void>;
}

/**
 * Runs a plugin's implementation inside the host process, reachable exactly like any other plugin:
 * it serves on a loopback HTTP/2 server, handshakes with a launch secret, registers, and accepts
 * only calls carrying the router's signed caller header. So routed calls pass the host's
 * authentication, declared-dependency authorization, rate limits and health-aware selection;
 * the cost is one loopback hop. grpc.health is served too (for the prober) unless provided.
 */
export async function startInProcess(host: PluginHost, options: InProcessPluginOptions): Promise<InProcessPlugin> {
  if (!options?.name || !options.hostUrl || !options.magicCookie) throw new Error("startInProcess: name, hostUrl and magicCookie are required");
  if (!Array.isArray(options.provides) || options.provides.length === 0) throw new Error("startInProcess: provides must list at least one service");
  const version = options.version ?? "1.0.0";
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_LIMITS.maxMessageBytes;
  let signingKey: Buffer | undefined;

  // Only calls the host routed (signed for this method with this runtime's key) are served.
  const callerCheck: Interceptor = (next) => async (req) => {
    if (req.service.typeName === Health.typeName) return next(req);
    const path = `/${req.service.typeName}/${req.method.name}`;
    if (!signingKey || !verifyCallerHeader(req.header.get(HEADER_CALLER), signingKey, path))
      throw new ConnectError("calls must come through the plugboard host", Code.Unauthenticated);
    return next(req);
  };
  const servesHealth = options.provides.some(([service]) => service.typeName === Health.typeName);
  const adapter = answerMalformedUrls(connectNodeAdapter({
    routes(router: ConnectRouter) {
      for (const [service, impl] of options.provides) router.service(service, impl as Partial<ServiceImpl<DescService>>);
      if (!servesHealth)
        router.service(Health, { check: () => create(HealthCheckResponseSchema, { status: HealthCheckResponse_ServingStatus.SERVING }) });
    },
    interceptors: [callerCheck],
    readMaxBytes: maxMessageBytes,
    writeMaxBytes: maxMessageBytes,
  }));
  const server = http2.createServer({ settings: { maxConcurrentStreams: DEFAULT_LIMITS.maxConcurrentStreams } }, adapter);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => (sessions.add(s), s.once("close", () => sessions.delete(s))));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => (server.off("error", reject), resolve()));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const closeServer = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sessions) s.close();
      setTimeout(() => sessions.forEach((s) => s.destroy()), 2_000).unref();
    });

  const manager = new Http2SessionManager(options.hostUrl);
  const transport = createConnectTransport({ baseUrl: options.hostUrl, httpVersion: "2", sessionManager: manager });
  const handshake = createClient(HandshakeService, transport);
  const registry = createClient(RegistryService, transport);
  let token: string;
  let runtimeId: string;
  let refreshTimer: NodeJS.Timeout | undefined;
  try {
    const res = await handshake.handshake({
      magicCookieKey: options.magicCookie.key,
      magicCookieValue: options.magicCookie.value,
      coreProtocolVersion: CORE_PROTOCOL_VERSION,
      appProtocolRanges: options.appProtocolRanges ?? ["*"],
      pluginName: options.name,
      pluginVersion: version,
      provides: options.provides.map(([service]) => ({ type: service.typeName, version })),
      requires: (options.requires ?? []).map((r) => ({ type: r.type, versionRange: r.versionRange ?? "", optional: r.optional ?? false })),
      baseUrl: url,
      launchSecret: host.issueLaunchSecret(options.name, 60_000),
    });
    token = res.runtimeToken;
    runtimeId = res.runtimeId;
    signingKey = Buffer.from(res.callerSigningKey);
    for (const [service] of options.provides)
      await registry.register({ serviceType: service.typeName }, { headers: { authorization: `Bearer ${token}` } });
    // Refresh at half-life, as the SDK does, so the runtime (and its registrations) outlive one token.
    const scheduleRefresh = (expiresAtMs: number) => {
      refreshTimer = setTimeout(() => {
        handshake
          .refreshToken({}, { headers: { authorization: `Bearer ${token}` } })
          .then((r) => {
            token = r.runtimeToken;
            scheduleRefresh(r.tokenExpiresAt ? Number(r.tokenExpiresAt.seconds) * 1000 : Date.now() + 60_000);
          })
          .catch((e: unknown) => host.logger.error({ plugin: options.name, err: ConnectError.from(e).rawMessage }, "in-process plugin: token refresh failed"));
      }, Math.max(1_000, (expiresAtMs - Date.now()) / 2));
      refreshTimer.unref();
    };
    scheduleRefresh(res.tokenExpiresAt ? Number(res.tokenExpiresAt.seconds) * 1000 : Date.now() + 60_000);
  } catch (e) {
    manager.abort();
    await closeServer();
    throw e;
  }
  host.logger.info({ plugin: options.name, runtimeId, url }, "in-process plugin started");

  let stopped = false;
  return {
    name: options.name,
    runtimeId,
    url,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (refreshTimer) clearTimeout(refreshTimer);
      await host.store.removeRuntime(runtimeId, "revoked").catch(() => false);
      manager.abort();
      await closeServer();
    },
  };
}
