import type * as http2 from "node:http2";
import { createContextValues, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { SecretsService } from "../../gen/plugboard/v1/secrets_pb.js";
import { createSecretsService } from "../secrets/service.js";
import { createHostReflection } from "../reflection/host.js";
import { createSecretAdmission, refuseRequiredSecrets } from "../secrets/admission.js";
import { secretReadAuthorizer } from "../policy/secret-read.js";
import { createRouter } from "../router/router.js";
import { createRouterRateLimiter, type RouterRateLimiter } from "../ratelimit/index.js";
import { createRbacInterceptor } from "./rbac-interceptor.js";
import { withSpecGrpcMessage } from "./grpc-message-spec.js";
import { createHostOutlierDetector } from "./outliers.js";
import { createRoutingDecisions, peerCertificateOf, sessionCertificateOf } from "./routing.js";
import { createRequestScopes } from "./request-scope.js";
import { routedStreamClaim } from "./routed-streams.js";
import { createTokenIdentityCache } from "../identity/token-identity-cache.js";
import { guardStore, logStoreResets } from "./store-guard.js";
import { exportFallbackCount, logRateLimitFallback } from "./rate-limit-fallback-log.js";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { answerMalformedUrls } from "../protocol/request-url-guard.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { AdminService } from "../../gen/plugboard/v1/admin_pb.js";
import { BrokerService } from "../../gen/plugboard/v1/broker_pb.js";
import { HandshakeService } from "../../gen/plugboard/v1/handshake_pb.js";
import { LifecycleService } from "../../gen/plugboard/v1/lifecycle_pb.js";
import { RegistryService } from "../../gen/plugboard/v1/registry_pb.js";
import { createAdminService } from "../admin/service.js";
import { createBrokerService } from "../broker/service.js";
import { createGrantInterceptor } from "../broker/grant-interceptor.js";
import { createHandshakeService } from "../handshake/service.js";
import { createLaunchSecrets } from "../handshake/launch-secrets.js";
import { createEnrolments, type EnrolmentTokenOptions, type IssuedEnrolmentToken } from "../enrolment/enrolment.js";
import { createBoundNames } from "../policy/bound-names.js";
import { createGrpcHealthService } from "../health/grpc-health.js";
import { composeAuthenticators, type IdentityResolver } from "../identity/compose.js";
import { createIdentityInterceptor, peerCertificateKey } from "../identity/interceptor.js";
import { identityKey } from "../identity/identity.js";
import { createServerTracingInterceptor } from "../tracing/interceptors.js";
import { createCredentialLifetime, createStreamLifetimeInterceptor } from "../identity/credential-lifetime.js";
import { createTokenAuthenticator } from "../identity/token-authenticator.js";
import { createAutoTlsSlot, listenWithAutoTls, liveUpstreamTls } from "../identity/auto-tls-host.js";
import type { AutoTls, PluginCredentials } from "../identity/auto-tls.js";
import { createLifecycleService } from "../lifecycle/service.js";
import { DEFAULT_REGISTRATION_LEASE_MS, createLeases } from "../lifecycle/leases.js";
import { createLogger, type Logger } from "../log/logger.js";
import { createRegistryService } from "../registry/service.js";
import { requestStreamKey } from "../registry/direct-frames.js";
import type { HostPolicy } from "../policy/host-policy.js";
import type { Rbac } from "../policy/rbac.js";
import { policySubject } from "../identity/identity.js";
import { createMemoryStore } from "../store/memory.js";
import type { Store } from "../store/types.js";
import { createTokenService, randomId, type TokenService } from "../tokens/tokens.js";
import type { HostContext } from "./context.js";
import { actorOf } from "../audit/audit.js";
import { listen, type ListenOptions, type RunningServer } from "./listen.js";
import { resolveOptions, type PluginHostOptions } from "./options.js";
import type { AuditEvent, AuditSink } from "../audit/audit.js";
import { createAuditLog } from "../audit/audit-log.js";
import { createAuthFailureAuditInterceptor } from "../audit/auth-failure-interceptor.js";
import { createInFlightCounter } from "../launcher/in-flight.js";
import { createHealthProber } from "../health/prober.js";
import { createHostMetrics, type HostMetrics } from "../metrics/host-metrics.js";
import { createOps, withAdminCredential, type Ops, type OpsServer, type OpsListenOptions } from "../ops/index.js";
import { instrumentResolver } from "./auth-metrics.js";
import type { CallEndInfo } from "../router/router.js";
import type { DescService } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import type { Registration } from "../../gen/plugboard/v1/common_pb.js";
import {
  createHostClientFactory,
  createHostDiscovery,
  HOST_CALLER,
  type DiscoverOptions,
  type HostClientOptions,
  type HostWatchEvent,
} from "../host-client/index.js";
import { hostAppAuthorization } from "../policy/host-app.js";
import { createAdmission, peerAddressKey, peerAddressOf, peerAddressOfSession } from "../admission/index.js";
import { createHostUnary } from "../host-unary/index.js";
import { adminCheckOf } from "../ops/admin-check.js";
import { createRequestGuard, markProvenStreams, singleMessageMethods } from "../server-limits/index.js";

export type RequestHandler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;

export interface PluginHost {
  readonly hostId: string;
  readonly store: Store;
  readonly tokens: TokenService;
  readonly logger: Logger;
  /** Resolves the caller of a request (any configured method); for the router and custom endpoints. */
  readonly identify: IdentityResolver;
  /** Mount on your own node http2 server: `http2.createServer(host.handler)`. */
  readonly handler: RequestHandler;
  /** Start a server of its own. */
  listen(options?: ListenOptions): Promise<RunningServer>;
  /** The ops listener (HTTP/1.1): /metrics, /healthz, /readyz and the dashboard at / (docs/operations.md). */
  listenOps(options?: OpsListenOptions): Promise<OpsServer>;
  /** Readiness, dashboard state, and what launchers launched (`ops.launched.add`). */
  readonly ops: Ops;
  /** The host's audit sink (the launcher reports plugin start/stop/restart through auditPluginProcess). */
  readonly audit: AuditSink;
  /** The host's metrics (own prom-client registry; `pluginRestarts` is for the launcher). */
  readonly metrics: HostMetrics;
  /** Routed calls currently forwarded to a provider runtime (drains and hot replace wait for zero). */
  inFlight(runtimeId: string): number;
  /**
   * A typed client for a plugin service, for the host app itself: each call is decided like a routed
   * one (policy, RBAC subject "host", rate limit, provider selection and health, pin, metrics, audit,
   * signed caller header `sub: "host"`) and sent straight to the provider, not through the host's server.
   */
  client<S extends DescService>(service: S, options?: HostClientOptions): Client<S>;
  /** Resolves with the providers once a healthy one (in `versionRange`) is registered; DeadlineExceeded after `timeoutMs` (10 s). */
  waitFor(service: DescService | string, options?: { timeoutMs?: number; versionRange?: string }): Promise<Registration[]>;
  /** The registered providers of a service (healthy ones unless asked), in-process. */
  discover(service: DescService | string, options?: DiscoverOptions): Promise<Registration[]>;
  /** The service's registrations now, then every change, until `signal` aborts. */
  watch(service: DescService | string, options?: { signal?: AbortSignal }): AsyncIterable<HostWatchEvent>;
  /** The handshake cookie (not a secret): the launcher passes it to plugins as PLUGBOARD_MAGIC_COOKIE_KEY/_VALUE. */
  readonly magicCookie: { readonly key: string; readonly value: string };
  /** A single-use secret for one plugin process the host app launches itself. */
  issueLaunchSecret(pluginName: string, ttlMs?: number): string;
  /** A name-bound bootstrap credential for a plugin started outside the host (see docs/protocol.md). */
  issueEnrolmentToken(pluginName: string, options?: EnrolmentTokenOptions): Promise<IssuedEnrolmentToken>;
  /** Refuses every later handshake with this enrolment token (by its public id); false when unknown. */
  revokeEnrolmentToken(id: string): Promise<boolean>;
  /** With AutoMTLS running (listen({ tls: "auto" })): a certificate for a plugin about to be launched; else undefined. */
  issuePluginCredentials(pluginName: string): Promise<PluginCredentials | undefined>;
  /** The AutoMTLS CA once a listener runs with tls "auto" (its PEM, SPIFFE IDs, issuance). */
  autoTls(): AutoTls | undefined;
  /** Stops servers started with listen, the sweeper and the store. */
  close(): Promise<void>;
}

/** The first path segment of `/pkg.Service/Method`. */
export function serviceOfPath(path: string): string {
  const end = path.indexOf("/", 1);
  return end < 0 ? "" : path.slice(1, end);
}

/** A routed call's credential watch: removals are heard at once; the first store read waits 1 s (most calls are over by then). */
const ROUTED_CALL_WATCH = Object.freeze({ firstCheckAfterMs: 1_000 });

export function createPluginHost(options: PluginHostOptions): PluginHost {
  const resolved = resolveOptions(options);
  const logger = options.logger ?? createLogger({ name: "plugboard" });
  // Store failures answer Unavailable everywhere (host RPCs, router, auth), never Internal with the store's text.
  const guardedStore = guardStore(options.store ?? createMemoryStore(), logger);
  // The host's own memory store is written only through this host: routed calls may then know a token's identity.
  const identities = options.store === undefined && options.runtimeRoles === undefined ? createTokenIdentityCache({ store: guardedStore, now: options.now ?? Date.now }) : undefined;
  const store = identities?.store ?? guardedStore;
  const stopResetLog = logStoreResets(options.store ?? store, logger);
  const tokens = createTokenService({ store, random: resolved.random, now: resolved.now });
  const capabilities = options.capabilities ?? [];
  const capabilityTypes = new Set(capabilities.map((c) => c.service.typeName));
  const metrics = createHostMetrics({ store, ...(options.secretCache ? { secretCache: options.secretCache } : {}) });
  const auditSink = options.audit ?? createAuditLog(options.auditLog).sink;
  let ops: Ops | undefined; // created below, once identify exists; audit events before that are not shown
  const audit: AuditSink = (event: AuditEvent) => {
    metrics.observeAudit(event);
    ops?.observeAudit(event);
    auditSink(event);
  };
  const reflection = createHostReflection(store, [
    HandshakeService, RegistryService, BrokerService, LifecycleService, AdminService, Health,
    ...(options.secrets ? [SecretsService] : []),
    ...capabilities.map((c) => c.service),
  ]);
  const host: HostContext = {
    descriptors: reflection.pool,
    hostId: randomId("host_", resolved.random),
    store,
    tokens,
    policy: withAdminCredential(withRbacAdmin(options.policy ?? {}, options.rbac), options.adminCredential),
    limits: resolved.limits,
    logger,
    audit,
    random: resolved.random,
    now: resolved.now,
    magicCookie: options.magicCookie,
    appProtocolVersions: resolved.appProtocolVersions,
    runtimeTokenTtlMs: resolved.runtimeTokenTtlMs,
    grantTtlMs: resolved.grantTtlMs,
    allowedEndpointHosts: options.allowedEndpointHosts ?? [],
    launchSecrets: createLaunchSecrets(resolved.random, resolved.now),
    requireLaunchSecret: options.requireLaunchSecret ?? false,
    enrolments: createEnrolments({ store, random: resolved.random, now: resolved.now, nameBytes: resolved.limits.nameBytes }),
    allowUnprovenNames: options.allowUnprovenNames ?? false,
    nameIsBound: createBoundNames({
      ...(options.reservedNames ? { reservedNames: options.reservedNames } : {}),
      ...(options.rbac ? { rbac: options.rbac } : {}),
      ...(options.runtimeRoles ? { runtimeRoles: options.runtimeRoles } : {}),
    }),
    capabilityTypes,
    admitSecrets: options.secrets ? createSecretAdmission(options.secrets.provider) : refuseRequiredSecrets,
    admission: createAdmission(resolved.limits, store, audit),
  };
  if (host.allowUnprovenNames)
    logger.warn("allowUnprovenNames is on: plugins may handshake without proving their name (development only; such runtimes are marked unproven)");

  // Registrations are leases their runtimes renew; ended ones are swept on every host sharing the store.
  const leases = createLeases({ store, leaseMs: options.registrationLeaseMs ?? DEFAULT_REGISTRATION_LEASE_MS, now: resolved.now, logger });

  // Header-list, request-body and unauthenticated-stream limits on every request (docs/security.md).
  const requestGuard = createRequestGuard(resolved.limits);
  const autoTls = createAutoTlsSlot(options.autoTls);
  const upstreamTls = liveUpstreamTls(autoTls, options.upstreamTls);
  const requestScopes = createRequestScopes();
  const identify = instrumentResolver(composeAuthenticators([
    ...(options.adminCredential ? [options.adminCredential.authenticator] : []),
    autoTls.authenticator,
    ...(options.authenticators ?? []),
    createTokenAuthenticator({ tokens, store, ...(options.runtimeRoles ? { rolesFor: options.runtimeRoles } : {}) }),
  ]), metrics.observeAuth);
  const hostOps = (ops = createOps({ hostId: host.hostId, store, metrics, logger, adminCheck: adminCheckOf(identify, host.policy) }, options.ops));
  const hostServices = new Set<string>([
    HandshakeService.typeName,
    RegistryService.typeName,
    BrokerService.typeName,
    LifecycleService.typeName,
    AdminService.typeName,
    Health.typeName,
    ...(options.secrets ? [SecretsService.typeName] : []),
    ...capabilityTypes,
    ...reflection.typeNames,
  ]);
  // Host streams end with the credential that opened them (revoked, expired, runtime removed).
  const credentialLifetime = createCredentialLifetime({ store, now: resolved.now });
  const publicMethods = new Set([`/${HandshakeService.typeName}/${HandshakeService.method.handshake.name}`]);
  if (options.publicHealth ?? true) publicMethods.add(`${Health.typeName}/*`);
  const interceptors: Interceptor[] = [
    createServerTracingInterceptor((values) => values.get(identityKey)?.subject),
    metrics.rpcInterceptor,
    createAuthFailureAuditInterceptor(audit),
    createIdentityInterceptor({ resolve: identify, publicMethods }),
    markProvenStreams,
    createStreamLifetimeInterceptor(credentialLifetime),
    ...(options.rbac ? [createRbacInterceptor(options.rbac, (id) => options.adminCredential?.owns(id) ?? false)] : []),
    createGrantInterceptor(tokens, capabilityTypes, audit),
    ...(options.interceptors ?? []),
  ];

  const routes = (router: ConnectRouter) => {
    router.service(HandshakeService, createHandshakeService(host));
    router.service(RegistryService, createRegistryService(host, leases));
    router.service(BrokerService, createBrokerService(host));
    router.service(LifecycleService, createLifecycleService(host, { autoTls: autoTls.current, leases }));
    router.service(AdminService, createAdminService(host, hostOps.launched));
    router.service(Health, createGrpcHealthService(store, hostServices, resolved.limits));
    if (options.secrets) {
      const { provider, policy, watch } = options.secrets;
      router.service(
        SecretsService,
        createSecretsService({ provider, store, logger, audit: (e) =>
            audit({
              event: "secret.read",
              outcome: e.outcome === "ok" ? "success" : "failure",
              actor: { subject: e.subject, method: "token", ...(e.runtimeId ? { runtimeId: e.runtimeId } : {}) },
              target: e.granted.join(",") || e.requested.join(","),
              ...(e.code ? { reason: e.code } : {}),
              requestId: e.requestId,
            }), ...(policy ? { policy } : {}), ...(watch ? { watch } : {}),
          ...(options.rbac ? { authorize: secretReadAuthorizer(options.rbac) } : {}) }),
      );
    }
    for (const capability of capabilities) router.service(capability.service, capability.impl);
    reflection.mount(router);
  };
  // Connect unary calls of host methods are served from the raw stream, with the same interceptors and limits.
  const hostUnary = createHostUnary({
    interceptors,
    readMaxBytes: resolved.limits.maxMessageBytes,
    writeMaxBytes: resolved.limits.maxMessageBytes,
    guard: requestGuard,
    contextValues(stream) {
      const values = createContextValues();
      const cert = sessionCertificateOf(stream.session);
      if (cert) values.set(peerCertificateKey, cert);
      values.set(peerAddressKey, peerAddressOfSession(stream.session));
      return values;
    },
  });
  const connectHandler = answerMalformedUrls(connectNodeAdapter({
    routes: hostUnary.routes(routes),
    interceptors,
    readMaxBytes: resolved.limits.maxMessageBytes,
    writeMaxBytes: resolved.limits.maxMessageBytes,
    contextValues(req) {
      const values = createContextValues();
      // Only a certificate the TLS layer verified against the configured CA counts.
      const cert = peerCertificateOf(req as http2.Http2ServerRequest);
      if (cert) values.set(peerCertificateKey, cert);
      values.set(peerAddressKey, peerAddressOf(req)); // the socket's, never a header's
      values.set(requestStreamKey, (req as Partial<http2.Http2ServerRequest>).stream); // Watch writes its events there
      requestScopes.fill(req as http2.Http2ServerRequest, values);
      return values;
    },
  }));

  // Passive outlier ejection: dead providers leave rotation on their first failed call.
  const outliers = createHostOutlierDetector(options.outlierEjection, { audit, registry: metrics.registry, logger });
  const decisions = createRoutingDecisions(host, identify, options.rbac, outliers, identities && { cache: identities, onHit: (id) => metrics.observeAuth(id.method, "success") });
  const rateLimiter: RouterRateLimiter | undefined =
    options.rateLimit === undefined
      ? undefined
      : "consume" in options.rateLimit
        ? options.rateLimit
        : createRouterRateLimiter({ onFallback: logRateLimitFallback(logger), ...options.rateLimit });
  if (rateLimiter?.fallbackCount) exportFallbackCount(metrics.registry, () => rateLimiter.fallbackCount?.() ?? 0);
  const prober =
    options.healthProbe &&
    createHealthProber({
      store,
      logger,
      ...options.healthProbe,
      ...(outliers ? { onServing: outliers.success } : {}),
      tls: upstreamTls,
    });
  prober?.start();

  // Routed calls per provider runtime, so a drain can wait for exactly the calls already forwarded.
  const inFlight = createInFlightCounter();
  // Routed calls and the host app's own calls to its plugins are counted, audited and drained alike.
  const recordCallEnd = (info: CallEndInfo) => {
    inFlight.onCallEnd(info);
    metrics.observeRoutedCall(info);
    if (info.code !== "ok") auditCallEnd(info);
    options.onRoutedCall?.(info);
  };
  // Refusals worth an audit record (made only for calls that did not end ok).
  const auditCallEnd = (info: CallEndInfo) => {
    const target = `/${info.service}/${info.method}`;
    const { requestId } = info;
    if (info.code === "unauthenticated")
      audit({ event: "authentication", outcome: "failure", target, reason: "routed call refused", requestId });
    else if (info.code === "resource_exhausted" && info.caller)
      audit({ event: "rate_limit", outcome: "failure", actor: actorOf(info.caller), target, reason: "resource_exhausted", requestId });
    else if (info.code === "permission_denied" && info.caller === HOST_CALLER)
      audit({ event: "authorization", outcome: "failure", actor: actorOf(HOST_CALLER), target, reason: "host app may not call it", requestId });
  };
  const router = createRouter({
    authenticate: decisions.authenticate,
    authorize: decisions.authorize,
    resolve: decisions.resolve,
    maxMessageBytes: resolved.limits.maxMessageBytes,
    maxResponseMessageBytes: resolved.limits.maxResponseMessageBytes,
    maxInFlightPerProvider: resolved.limits.maxInFlightPerProvider,
    maxPendingPerService: resolved.limits.maxPendingPerService,
    logger,
    ...(rateLimiter ? { rateLimiter } : {}),
    upstreamTls,
    onCallStart: inFlight.onCallStart,
    onCallRetried: inFlight.onCallRetried,
    ...(outliers ? { outliers } : {}),
    watchCaller: (caller, onEnd) => credentialLifetime.watch(caller, onEnd, ROUTED_CALL_WATCH),
    onCallEnd: recordCallEnd,
    methodSchema: (registrationId, service, method) => reflection.pool.methodSchema(registrationId, service, method),
  });
  const hostClients = createHostClientFactory({
    authorize: hostAppAuthorization(host.policy, options.rbac),
    resolve: (serviceType, pin) => decisions.resolve(serviceType, HOST_CALLER, pin),
    rateLimiter,
    onCallStart: inFlight.onCallStart,
    onCallEnd: recordCallEnd,
    upstreamTls,
    maxMessageBytes: resolved.limits.maxMessageBytes,
  });
  const discovery = createHostDiscovery(store);
  const forgetEnded = store.subscribe((event) => decisions.observe(event));

  // Host services go to connect-es; every other service is a plugin's, reached through the router.
  const opsOnMainPort = options.opsOnMainPort ?? true;
  const handler: RequestHandler = requestGuard.guard((req, res, authenticated) => {
    // The request's id (echoed in a header) and its stream's admission reach connect-es as context values.
    requestScopes.enter(req, res, authenticated);
    if (opsOnMainPort && hostOps.probeHandler(req, res)) return;
    if (hostServices.has(serviceOfPath(req.url))) connectHandler(req, withSpecGrpcMessage(req, res));
    else router.handleStream(req.stream, req.headers, authenticated);
  }, singleMessageMethods(hostServices, capabilities.map((c) => c.service)));
  // The host's own servers take routed calls from the raw stream event, skipping the compat layer.
  const routedClaim = routedStreamClaim(router, requestGuard, (service) => hostServices.has(service));
  const serve: { request: RequestHandler; claimStream: typeof routedClaim } = {
    request: handler,
    // Arguments named, not spread: a spread makes an array per stream.
    claimStream: (stream, headers, flags, rawHeaders) => hostUnary.claim(stream, headers, flags, rawHeaders) || routedClaim(stream, headers, flags, rawHeaders),
  };
  let plainTextWarned = false;
  const warnPlainText = (hostname: string) => {
    if (plainTextWarned) return;
    plainTextWarned = true;
    logger.warn({ bindAddress: hostname }, "serving plain-text h2c off loopback: tokens travel unencrypted; configure tls");
  };
  const servers = new Set<RunningServer>();
  const sweeper = setInterval(() => {
    store
      .sweep(resolved.now())
      .then((ended) => ended > 0 && logger.info({ ended }, "expired runtimes removed"))
      .catch((error: unknown) => logger.warn({ err: String(error) }, "sweep failed"));
  }, resolved.sweepIntervalMs);
  sweeper.unref();

  return {
    hostId: host.hostId,
    inFlight: inFlight.count,
    store,
    tokens,
    logger,
    identify,
    handler,
    audit,
    metrics,
    async listen(listenOptions = {}) {
      const server =
        listenOptions.tls === "auto"
          ? await listenWithAutoTls(autoTls, listenOptions, (opts) => listen(serve, opts, resolved.limits, logger, warnPlainText))
          : await listen(serve, listenOptions, resolved.limits, logger, warnPlainText);
      servers.add(server);
      const auto = listenOptions.tls === "auto" ? { tls: "auto", trustDomain: autoTls.current()?.trustDomain } : {};
      logger.info({ url: server.url, ...auto }, "plugboard host listening");
      return server;
    },
    ops: hostOps,
    async listenOps(opsOptions = {}) {
      const server = await hostOps.listen(opsOptions);
      logger.info({ url: server.url }, "plugboard ops endpoints listening");
      return server;
    },
    magicCookie: { key: options.magicCookie.key, value: options.magicCookie.value },
    issueLaunchSecret: (pluginName, ttlMs) => host.launchSecrets.issue(pluginName, ttlMs),
    issueEnrolmentToken: (pluginName, enrolOptions) => host.enrolments.issue(pluginName, enrolOptions),
    revokeEnrolmentToken: (id) => host.enrolments.revoke(id),
    issuePluginCredentials: async (pluginName) => autoTls.current()?.issuePlugin(pluginName),
    autoTls: autoTls.current,
    client: hostClients.client,
    ...discovery,
    async close() {
      clearInterval(sweeper);
      leases.stop();
      autoTls.close();
      prober?.stop();
      forgetEnded();
      reflection.close();
      credentialLifetime.close();
      identities?.close();
      metrics.close();
      stopResetLog();
      await router.close();
      hostClients.close();
      await Promise.all([...servers].map((s) => s.close()));
      servers.clear();
      await hostOps.close();
      await store.close();
    },
  };
}

/** With RBAC configured, admin rights come from the "admin" permission unless the policy says otherwise. */
function withRbacAdmin(policy: HostPolicy, rbac: Rbac | undefined): HostPolicy {
  if (!rbac || policy.isAdmin) return policy;
  return { ...policy, isAdmin: (identity) => rbac.check(policySubject(identity), "admin") };
}
