import { pooledRandomBytes } from "../tokens/random-pool.js";
import type { OutlierEjectionOptions } from "../router/outlier-ejection.js";
import semver from "semver";
import type { Interceptor } from "@connectrpc/connect";
import type { Authenticator } from "../identity/identity.js";
import type { AuditSink } from "../audit/audit.js";
import type { AdminCredential, OpsOptions } from "../ops/index.js";
import type { AuditLogOptions } from "../audit/audit-log.js";
import type { SecretCacheStats } from "../secrets/cache.js";
import type { Logger } from "../log/logger.js";
import type { HostPolicy } from "../policy/host-policy.js";
import { DEFAULT_LIMITS, DEFAULT_TTLS } from "../protocol/constants.js";
import type { Store } from "../store/types.js";
import type { RandomSource } from "../tokens/tokens.js";
import type { Capability, Limits } from "./context.js";
import type { Rbac } from "../policy/rbac.js";
import { checkAdmissionLimits } from "../admission/limits-check.js";
import type { SecretProvider } from "../secrets/types.js";
import type { SecretPolicy } from "../secrets/service.js";
import type { SecretWatchOptions } from "../secrets/watch.js";
import type { RouterRateLimiter, RouterRateLimiterOptions } from "../ratelimit/index.js";
import type { CallEndInfo } from "../router/router.js";
import type { UpstreamTls } from "../router/upstream-pool.js";
import type { AutoTlsOptions } from "../identity/auto-tls-options.js";

export interface PluginHostOptions {
  /** Shared with plugins out of band; tells a plugin it was started by this host. Not a security measure. */
  magicCookie: { key: string; value: string };
  /** Versions of your application's plugin protocol this host speaks (semver). Default ["1.0.0"]. */
  appProtocolVersions?: string[];
  /** Default: the in-memory store. */
  store?: Store;
  runtimeTokenTtlMs?: number;
  grantTtlMs?: number;
  limits?: Partial<Limits>;
  /** Extra ways to authenticate (mTLS, JWT); runtime tokens are always accepted. */
  authenticators?: Authenticator[];
  /** Roles given to plugin runtimes (RBAC). */
  runtimeRoles?: (pluginName: string, subject: string) => readonly string[];
  policy?: HostPolicy;
  /** Role-based access control over every RPC and routed call. */
  rbac?: Rbac;
  /** Serve plugboard.v1.SecretsService from this provider. */
  secrets?: { provider: SecretProvider; policy?: SecretPolicy; watch?: SecretWatchOptions };
  /** Rate limits for routed calls: budgets (memory, or Redis when `redis` is given) or a ready limiter. */
  rateLimit?: RouterRateLimiterOptions | RouterRateLimiter;
  /** TLS towards https:// providers: their CA and the host's client certificate. AutoMTLS replaces it. */
  upstreamTls?: UpstreamTls;
  /** Tunes AutoMTLS, which `listen({ tls: "auto" })` turns on: trust domain, certificate lifetime, host names. */
  autoTls?: AutoTlsOptions;
  /** Called once per routed call (metrics). */
  onRoutedCall?: (info: CallEndInfo) => void;
  /**
   * Your connect-es interceptors around the host's own services (handshake, registry, broker, lifecycle,
   * admin, health, secrets, capabilities), run after authentication: `req.contextValues.get(identityKey)`
   * is the caller. Routed plugin calls do not pass through them (the router forwards bytes; see `onRoutedCall`).
   */
  interceptors?: Interceptor[];
  /** Host services plugins may use through broker grants. */
  capabilities?: Capability[];
  /** Refuse handshakes without a launcher-issued launch secret. Default false. */
  requireLaunchSecret?: boolean;
  /**
   * Development only: admit plugins that prove no name (no launch secret, enrolment token, certificate
   * or JWT naming them). Logged as a warning at start; such runtimes are marked unproven, get no rights
   * bound to their name, and cannot take a name a proven runtime holds or configuration binds. Default false.
   */
  allowUnprovenNames?: boolean;
  /** Names no unproven runtime may take, beyond those RBAC bindings and runtimeRoles already bind. */
  reservedNames?: string[];
  /** Non-loopback hosts plugins may serve on ("plugins.internal", "*.svc.cluster.local"). */
  allowedEndpointHosts?: string[];
  /** Serve grpc.health.v1.Health without credentials, for probes. Default true. */
  publicHealth?: boolean;
  logger?: Logger;
  /** Where audit events go. Default: the JSON audit log (createAuditLog) configured by `auditLog`. */
  audit?: AuditSink;
  /** The default audit log's destination (stdout) and HMAC key for token correlation (random per host). */
  auditLog?: AuditLogOptions;
  /** Serve GET /metrics, /healthz, /readyz on the main port too. Default true; `host.listenOps` serves them apart. */
  opsOnMainPort?: boolean;
  /** Ops concern limits: recent audit events kept for the dashboard, readiness timeout, event streams. */
  ops?: OpsOptions;
  /** An operator credential this host accepts as admin (plugboard host writes one for plugboard status). */
  adminCredential?: AdminCredential;
  /** A secret cache whose hit/miss counts are exported as metrics. */
  secretCache?: { stats(): SecretCacheStats };
  /**
   * Probe providers' grpc.health.v1.Health actively; a provider whose own report went stale and
   * whose probe fails is marked UNHEALTHY and gets no routed calls. Default off.
   */
  healthProbe?: { intervalMs?: number; timeoutMs?: number; staleAfterMs?: number };
  /**
   * Passive outlier ejection (on by default; `false` turns it off): a provider whose connection
   * fails is out of rotation at once, N failures in a row eject it for longer. See docs/router.md.
   */
  outlierEjection?: OutlierEjectionOptions | false;
  /**
   * Registrations are leases of this length, renewed by their runtime (LifecycleService.Heartbeat;
   * the SDK does it): one that stops renewing (killed -9) leaves rotation on every host sharing the
   * store. Default 10 s; 0 turns leases off.
   */
  registrationLeaseMs?: number;
  /** How often expired runtimes and credentials are swept. Default 10 s. */
  sweepIntervalMs?: number;
  random?: RandomSource;
  now?: () => number;
}

export interface ResolvedOptions {
  appProtocolVersions: string[];
  runtimeTokenTtlMs: number;
  grantTtlMs: number;
  limits: Limits;
  sweepIntervalMs: number;
  random: RandomSource;
  now: () => number;
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`createPluginHost: ${name} must be a positive number`);
  return value;
}

/** Validates the option bag once and fills in defaults; mistakes fail at start-up, not at the first call. */
export function resolveOptions(options: PluginHostOptions): ResolvedOptions {
  const { key, value } = options.magicCookie ?? {};
  if (!key || !value) throw new Error("createPluginHost: magicCookie.key and magicCookie.value are required");
  const appProtocolVersions = options.appProtocolVersions ?? ["1.0.0"];
  if (appProtocolVersions.length === 0 || appProtocolVersions.some((v) => semver.valid(v) === null))
    throw new Error("createPluginHost: appProtocolVersions must be semver versions");
  const limits = { ...DEFAULT_LIMITS, ...options.limits } as Limits;
  for (const [name, v] of Object.entries(limits)) positive(`limits.${name}`, v);
  checkAdmissionLimits(limits);
  return {
    appProtocolVersions,
    runtimeTokenTtlMs: positive("runtimeTokenTtlMs", options.runtimeTokenTtlMs ?? DEFAULT_TTLS.runtimeTokenMs),
    grantTtlMs: positive("grantTtlMs", options.grantTtlMs ?? DEFAULT_TTLS.grantMs),
    limits,
    sweepIntervalMs: positive("sweepIntervalMs", options.sweepIntervalMs ?? 10_000),
    random: options.random ?? pooledRandomBytes,
    now: options.now ?? Date.now,
  };
}
