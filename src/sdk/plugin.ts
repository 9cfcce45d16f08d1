import { warnPlainText } from "./plain-text-warning.js";
import { watchDependencies } from "./dependency-health.js";
import { startParentWatchdog } from "../launcher/watchdog.js";
import { retryCleanup } from "./cleanup-retry.js";
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { BrokerService } from "../../gen/plugboard/v1/broker_pb.js";
import { HealthState, Protocol as ServedProtocol, type Registration } from "../../gen/plugboard/v1/common_pb.js";
import { HandshakeService } from "../../gen/plugboard/v1/handshake_pb.js";
import { LifecycleService } from "../../gen/plugboard/v1/lifecycle_pb.js";
import {
  RegistryService,
  SelectionStrategy,
  type DiscoverResponse,
  type WatchResponse,
} from "../../gen/plugboard/v1/registry_pb.js";
import { SecretsService } from "../../gen/plugboard/v1/secrets_pb.js";
import { HEADER_PROVIDER } from "../protocol/constants.js";
import { HEALTH_STATES, type ReportableHealth } from "../protocol/health.js";
import { createAuthInterceptor } from "./auth.js";
import { capabilityNotOffered, createGrantHolder, createGrantInterceptor } from "./capability.js";
import { createCircuitBreakerInterceptor, type BreakerOptions } from "./circuit-breaker.js";
import { createHostConnection, type ClientTransportOptions, type Protocol } from "./host-connection.js";
import { resolvePluginOptions, type PluginOptions } from "./options.js";
import { followPages } from "../paging/follow.js";
import { fileDescriptorSetOf } from "../reflection/descriptor-set.js";
import { createRetryInterceptor, type RetryOptions } from "./retry.js";
import { startPluginServer, type PluginServer } from "./server.js";
import { hostSubjectAltName, startCertificateRenewal } from "./certificate-renewal.js";
import { createSession, type RuntimeState } from "./session.js";
import { createSecretWatch, type SecretChange } from "./secret-watch.js";

export interface ClientOptions extends ClientTransportOptions {
  /** Wire protocol towards the host. Default "connect". */
  protocol?: Protocol;
  /** Route every call to this provider (runtime ID or registration ID). */
  pin?: string;
  /** Override the plugin's retry / breaker settings for this client; false turns them off. */
  retry?: RetryOptions | false;
  circuitBreaker?: BreakerOptions | false;
  /** Your own interceptors for this client, run after the plugin's `interceptors.client` and before retry. */
  interceptors?: Interceptor[];
}

const TRANSPORT_KEYS = [
  "defaultTimeoutMs", "useBinaryFormat", "jsonOptions", "binaryOptions",
  "acceptCompression", "sendCompression", "compressMinBytes", "useHttpGet",
] as const satisfies readonly (keyof ClientTransportOptions)[];

function transportOptionsOf(options: ClientOptions): ClientTransportOptions {
  return Object.fromEntries(TRANSPORT_KEYS.filter((k) => options[k] !== undefined).map((k) => [k, options[k]]));
}

/** What a plugin may report: the shared health vocabulary (src/protocol/health.ts) minus "unknown". */
export type HealthName = ReportableHealth;

export interface Plugin {
  /** The plugin's name, as declared. */
  readonly name: string;
  /** The host it talks to. */
  readonly hostUrl: string;
  /** Set after start(); changes when the plugin had to handshake again. */
  readonly runtimeId: string;
  /** Where this plugin serves its services ("" for consume-only plugins). */
  readonly url: string;
  start(): Promise<void>;
  client<S extends DescService>(service: S, options?: ClientOptions): Client<S>;
  capability<S extends DescService>(service: S, options?: { protocol?: Protocol }): Promise<Client<S>>;
  discover(service: DescService, options?: { versionRange?: string; strategy?: SelectionStrategy; includeUnhealthy?: boolean }): Promise<DiscoverResponse>;
  watch(service: DescService, options?: { signal?: AbortSignal }): AsyncIterable<WatchResponse>;
  /** A declared secret's current value: kept current by the host's WatchSecrets stream, so a rotation needs no restart. */
  secret(name: string): Promise<Uint8Array>;
  /** Called with each new version of a declared secret (and when it goes stale or fresh again); returns an unsubscribe function. */
  onSecretChange(name: string, listener: (change: SecretChange) => void): () => void;
  /** The version a rotation replaced, for `secretGraceMs` after the change (e.g. to accept tokens signed with the old key). */
  previousSecret(name: string): Uint8Array | undefined;
  reportHealth(state: HealthName, message?: string): Promise<void>;
  stop(): Promise<void>;
}

const HEALTH = HEALTH_STATES;
/** While the host is unreachable, heartbeats come at least this often: a restarted host is met within moments. */
const HEARTBEAT_RETRY_MAX_MS = 200;
/** How long a plugin whose host died may spend on clean-up before it exits anyway. */
const PARENT_GONE_EXIT_MS = 800;

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

export function createPlugin(pluginOptions: PluginOptions): Plugin {
  const options = resolvePluginOptions(pluginOptions);
  const log = options.logger;
  const connection = createHostConnection(options.hostUrl, options.hostTls, options.maxMessageBytes);
  // Without credentials: handshake, and token-bearing calls made by the session itself.
  const bare = connection.transport("connect", []);
  const bareRegistry = createClient(RegistryService, bare);
  let server: PluginServer | undefined;
  let registrations: Registration[] = [];
  let heartbeat: NodeJS.Timeout | undefined;
  /** The registration lease the host applies (RegisterResponse/HeartbeatResponse.lease_ms); 0 = none. */
  let hostLeaseMs = 0;
  let state: "new" | "starting" | "running" | "stopping" | "stopped" = "new";
  const signalHandlers = new Map<NodeJS.Signals, () => void>();

  const session = createSession({
    options,
    handshake: createClient(HandshakeService, bare),
    baseUrl: () => server?.url ?? "",
    onNewRuntime: (runtime) => registerAll(runtime),
  });
  const auth = createAuthInterceptor(session);
  const hostTransport = connection.transport("connect", [auth]);
  const registry = createClient(RegistryService, hostTransport);
  const broker = createClient(BrokerService, hostTransport);
  const lifecycle = createClient(LifecycleService, hostTransport);
  const secrets = createClient(SecretsService, hostTransport);
  const secretWatch = createSecretWatch({
    watch: (signal) => secrets.watchSecrets({}, { signal }),
    graceMs: options.secretGraceMs,
    onError: (e) => log.debug({ code: Code[e.code], err: e.rawMessage }, "secret watch ended; watching again"),
  });

  // One registration pass at a time: a heartbeat and a re-handshake must not both register a service.
  let registering: Promise<void> = Promise.resolve();
  function registerAll(runtime: RuntimeState): Promise<void> {
    const pass = registering.then(() => registerMissing(runtime), () => registerMissing(runtime));
    registering = pass.catch(() => undefined);
    return pass;
  }

  /** Registers every provided service this runtime has not registered yet. */
  async function registerMissing(runtime: RuntimeState): Promise<void> {
    registrations = registrations.filter((r) => r.runtimeId === runtime.runtimeId);
    for (const p of options.provides) {
      if (registrations.some((r) => r.serviceType === p.service.typeName)) continue;
      const res = await bareRegistry.register(
        {
          serviceType: p.service.typeName,
          version: p.version ?? options.version,
          metadata: p.metadata ?? {},
          weight: p.weight ?? 0,
          // connect-es servers speak every protocol: the router never needs to translate for them.
          protocols: [ServedProtocol.GRPC, ServedProtocol.GRPC_WEB, ServedProtocol.CONNECT],
          // The service's descriptors, so the host can describe it over gRPC reflection.
          fileDescriptorSet: fileDescriptorSetOf([p.service]),
        },
        bearer(runtime.token),
      );
      if (res.registration) registrations.push(res.registration);
      hostLeaseMs = res.leaseMs;
    }
    log.info({ runtimeId: runtime.runtimeId, services: registrations.map((r) => r.serviceType) }, "plugin registered");
  }

  function running(): RuntimeState {
    const s = session.state;
    if (state !== "running" || !s) throw new ConnectError(`plugin is ${state === "running" ? "between runtimes" : state}`, Code.FailedPrecondition);
    return s;
  }

  /**
   * Renews this runtime's registration lease (LifecycleService.Heartbeat) and re-registers what the
   * host lost. An Unauthenticated answer (a restarted host) makes the session re-handshake and
   * re-register; while the host is unreachable it beats again soon (100 ms, then every 200 ms), so a
   * restarted host is noticed within moments of its return rather than a whole interval later.
   */
  function startHeartbeat() {
    if (options.provides.length === 0 || options.heartbeatMs === 0) return;
    let failures = 0;
    const next = () => {
      // A third of the lease at most: two lost beats still leave the registrations in place.
      const interval = hostLeaseMs > 0 ? Math.min(options.heartbeatMs, hostLeaseMs / 3) : options.heartbeatMs;
      const delay = failures === 0 ? interval : Math.min(interval, HEARTBEAT_RETRY_MAX_MS, 100 * 2 ** Math.min(failures - 1, 6));
      heartbeat = setTimeout(() => void beat(), delay);
      heartbeat.unref();
    };
    const beat = async () => {
      try {
        const res = await lifecycle.heartbeat({}, { timeoutMs: Math.max(1_000, options.heartbeatMs) });
        hostLeaseMs = res.leaseMs;
        const runtime = session.state;
        if (runtime && state === "running") {
          // Fewer than we made: the host lost some (lease ran out while we were cut off, store reset).
          if (res.registrations < registrations.length) registrations = [];
          if (registrations.length < options.provides.length) await registerAll(runtime);
        }
        failures = 0;
      } catch (e) {
        failures++;
        log.debug({ err: ConnectError.from(e).rawMessage }, "heartbeat failed");
      }
      if (state === "running") next();
    };
    next();
  }

  /** Unregisters with retries until `deadline`; `first` settles after the first attempt. */
  function unregisterWithRetry(registrationId: string, token: string, deadline: number): { first: Promise<void>; done: Promise<void> } {
    let settleFirst!: () => void;
    const first = new Promise<void>((r) => (settleFirst = r));
    const done = retryCleanup((timeoutMs) => {
      const attempt = bareRegistry.unregister({ registrationId }, { ...bearer(token), timeoutMs });
      void attempt.then(settleFirst, settleFirst);
      return attempt;
    }, deadline).then(
      () => undefined,
      (e: unknown) => log.warn({ err: ConnectError.from(e).rawMessage }, "unregister failed"),
    );
    void done.then(settleFirst);
    return { first, done };
  }

  let exiting = false;
  let stopWatchdog: (() => void) | undefined;
  let dependencies: { stop(): void } | undefined;
  let renewal: { stop(): void } | undefined;
  function installSignalHandlers() {
    for (const signal of options.shutdownSignals) {
      // `on`, not `once`: a second signal (a supervisor and a wrapper such as tsx both relaying)
      // must not fall back to the default action and kill the process mid-drain.
      const handler = () => {
        if (exiting) return;
        exiting = true;
        log.info({ signal }, "stopping plugin");
        void plugin.stop().finally(() => process.exit(0));
      };
      signalHandlers.set(signal, handler);
      process.on(signal, handler);
    }
  }

  const plugin: Plugin = {
    name: options.name,
    hostUrl: options.hostUrl,
    get runtimeId() {
      return session.state?.runtimeId ?? "";
    },
    get url() {
      return server?.url ?? "";
    },

    async start() {
      if (state !== "new") throw new Error(`createPlugin: start() called when ${state}`);
      state = "starting";
      // A plugin started by a host exits when that host is gone, even if it died by SIGKILL, in
      // start-up too. Nothing can reach a dead host's plugin: exit comes within a second whatever
      // the clean-up (unregister from a shared store) still waits on.
      stopWatchdog = startParentWatchdog({
        onParentGone: () => {
          log.warn("host process is gone; stopping");
          setTimeout(() => process.exit(0), PARENT_GONE_EXIT_MS).unref();
          void plugin.stop().finally(() => process.exit(0));
        },
      });
      warnPlainText(
        log,
        options.hostUrl,
        options.provides.length > 0 ? { hostname: options.listen.hostname, tls: options.listen.tls !== undefined } : undefined,
      );
      try {
        if (options.provides.length > 0) {
          server = await startPluginServer({
            services: options.provides,
            signingKey: () => session.state?.signingKey,
            port: options.listen.port,
            hostname: options.listen.hostname,
            ...(options.listen.tls ? { tls: options.listen.tls } : {}),
            ...(options.autoTls ? { clientSubjectAltName: hostSubjectAltName(options.autoTls.cert) } : {}),
            maxMessageBytes: options.maxMessageBytes,
            interceptors: options.interceptors.server,
          });
        }
        const runtime = await session.start();
        await registerAll(runtime);
      } catch (e) {
        state = "stopped";
        stopWatchdog?.();
        await session.stop().catch(() => undefined);
        await server?.close();
        connection.close();
        throw e;
      }
      state = "running";
      startHeartbeat();
      installSignalHandlers();
      // Required services losing every healthy provider make this plugin DEGRADED (and HEALTHY again after).
      dependencies = watchDependencies({
        required: options.requires.filter((r) => !r.optional).map((r) => r.service.typeName),
        watch: (serviceTypes, signal) => registry.watch({ serviceTypes }, { signal }),
        report: (health, message) => lifecycle.reportHealth({ state: HEALTH[health], message }).then(() => undefined),
        onError: (e) => log.debug({ err: ConnectError.from(e).rawMessage }, "dependency watch ended; watching again"),
      });
      const credentials = options.autoTls;
      if (credentials)
        renewal = startCertificateRenewal({
          credentials,
          sign: async (csrPem) => (await lifecycle.renewCertificate({ csrPem })).certificatePem,
          onRenewed(notAfter) {
            server?.updateTls(credentials);
            // The host checks the certificate's validity on every call: move to a connection made with the new one.
            connection.rotate();
            pluginOptions.onCertificateRenewed?.(notAfter);
          },
          logger: log,
        });
      if (options.secrets.length > 0) secretWatch.start();
      log.info({ runtimeId: plugin.runtimeId, url: plugin.url }, "plugin started");
    },

    client(service, clientOptions = {}) {
      const retry = clientOptions.retry ?? options.retry;
      const breaker = clientOptions.circuitBreaker ?? options.circuitBreaker;
      const pin = clientOptions.pin;
      const interceptors: Interceptor[] = [
        ...options.interceptors.client,
        ...(clientOptions.interceptors ?? []),
        // The breaker sees one outcome per logical call, after retries.
        ...(breaker ? [createCircuitBreakerInterceptor(breaker)] : []),
        ...(retry ? [createRetryInterceptor(retry)] : []),
        ...(pin !== undefined
          ? [
              ((next) => (req) => {
                req.header.set(HEADER_PROVIDER, pin);
                return next(req);
              }) satisfies Interceptor,
            ]
          : []),
        auth,
      ];
      return createClient(service, connection.transport(clientOptions.protocol ?? "connect", interceptors, transportOptionsOf(clientOptions)));
    },

    async capability(service, capabilityOptions = {}) {
      const offered = capabilityNotOffered(service, running().hostCapabilities);
      if (offered) throw offered;
      const grant = createGrantHolder(broker, service.typeName);
      await grant.current(); // refusals surface here, not at the first call
      return createClient(
        service,
        connection.transport(capabilityOptions.protocol ?? "connect", [...options.interceptors.client, createGrantInterceptor(grant), auth]),
      );
    },

    async discover(service, discoverOptions = {}) {
      running();
      // The host pages large answers; the plugin gets every provider in one response.
      const pages = await followPages((pageToken) =>
        registry.discover({
          serviceType: service.typeName,
          versionRange: discoverOptions.versionRange ?? "",
          strategy: discoverOptions.strategy ?? SelectionStrategy.UNSPECIFIED,
          includeUnhealthy: discoverOptions.includeUnhealthy ?? false,
          pageToken,
        }),
      );
      const [first] = pages as [DiscoverResponse, ...DiscoverResponse[]];
      return { ...first, providers: pages.flatMap((p) => p.providers), nextPageToken: "" };
    },

    watch(service, watchOptions = {}) {
      running();
      return registry.watch({ serviceTypes: [service.typeName] }, watchOptions.signal ? { signal: watchOptions.signal } : {});
    },

    async secret(name) {
      running();
      const watched = secretWatch.current(name);
      if (watched) return watched.value;
      try {
        const res = await secrets.getSecrets({ names: [name] });
        const found = res.secrets.find((s) => s.name === name);
        if (!found) throw new ConnectError(`secret ${name} was not returned`, Code.NotFound);
        return found.value;
      } catch (e) {
        const err = ConnectError.from(e);
        if (err.code === Code.Unimplemented || (err.code === Code.PermissionDenied && err.rawMessage.includes(SecretsService.typeName)))
          throw new ConnectError("this host does not serve secrets (plugboard.v1.SecretsService)", Code.Unimplemented);
        throw err;
      }
    },

    onSecretChange: (name, listener) => secretWatch.onChange(name, listener),

    previousSecret: (name) => secretWatch.previous(name)?.value,

    async reportHealth(health, message = "") {
      running();
      await lifecycle.reportHealth({ state: HEALTH[health], message });
    },

    async stop() {
      if (state === "stopped" || state === "stopping") return;
      state = "stopping";
      if (heartbeat) clearTimeout(heartbeat);
      stopWatchdog?.();
      dependencies?.stop();
      renewal?.stop();
      secretWatch.stop();
      if (!exiting) {
        for (const [signal, handler] of signalHandlers) process.off(signal, handler);
        signalHandlers.clear();
      }
      const token = session.state?.token;
      // Clean-up survives a host answering Unavailable (its store down): unregister and revoke are
      // retried with backoff until the drain window ends, or the registration would be routed to later.
      const cleanupDeadline = Date.now() + options.drainTimeoutMs;
      // Unregister first: the router stops picking this plugin, then in-flight calls finish. The
      // first attempt is awaited; retries run while calls drain.
      const unregistering = token === undefined ? [] : registrations.map((r) => unregisterWithRetry(r.registrationId, token, cleanupDeadline));
      await Promise.all(unregistering.map((u) => u.first));
      registrations = [];
      if (server && !(await server.drain(options.drainTimeoutMs))) log.warn({ drainTimeoutMs: options.drainTimeoutMs }, "in-flight calls did not finish in time");
      await Promise.all(unregistering.map((u) => u.done));
      await session.stop(cleanupDeadline);
      await server?.close();
      connection.close();
      state = "stopped";
      log.info("plugin stopped");
    },
  };
  return plugin;
}
