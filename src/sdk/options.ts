import type { DescService } from "@bufbuild/protobuf";
import type { Interceptor, ServiceImpl } from "@connectrpc/connect";
import semver from "semver";
import { createLogger, type Logger } from "../log/logger.js";
import { DEFAULT_LIMITS } from "../protocol/constants.js";
import type { BreakerOptions } from "./circuit-breaker.js";
import type { RetryOptions } from "./retry.js";

/** A service this plugin serves; build with `provide()`. */
export interface Provided<S extends DescService = DescService> {
  service: S;
  impl: Partial<ServiceImpl<S>>;
  version?: string;
  metadata?: Record<string, string>;
  weight?: number;
}

/** A service this plugin calls; build with `requireService()`. */
export interface Required<S extends DescService = DescService> {
  service: S;
  versionRange?: string;
  optional?: boolean;
}

export function provide<S extends DescService>(
  service: S,
  impl: Partial<ServiceImpl<S>>,
  options: { version?: string; metadata?: Record<string, string>; weight?: number } = {},
): Provided {
  return { service, impl: impl as Partial<ServiceImpl<DescService>>, ...options };
}

/** Named so it cannot shadow CommonJS `require`. */
export function requireService<S extends DescService>(service: S, options: { versionRange?: string; optional?: boolean } = {}): Required {
  return { service, ...options };
}

export interface TlsFiles {
  cert: string | Buffer;
  key: string | Buffer;
  /** CA for client certificates: when set, the host must present one (mTLS). */
  ca?: string | Buffer;
}

export interface PluginOptions {
  /** Default env PLUGBOARD_HOST_URL. */
  hostUrl?: string;
  name: string;
  version: string;
  /** Default env PLUGBOARD_MAGIC_COOKIE_KEY and PLUGBOARD_MAGIC_COOKIE_VALUE (set by the host's launcher). */
  magicCookie?: { key: string; value: string };
  appProtocolRanges?: string[];
  provides?: Provided[];
  requires?: Required[];
  capabilities?: DescService[];
  secrets?: { name: string; optional?: boolean; version?: string }[];
  listen?: { port?: number; hostname?: string; tls?: TlsFiles };
  /**
   * AutoMTLS credentials; default env PLUGBOARD_TLS_CERT / _KEY / _CA (set by a host running
   * tls: "auto"), removed from process.env once read. They serve the plugin's TLS server and
   * authenticate it to the host; the certificate is renewed at half-life. Ignored when hostTls is set.
   */
  autoTls?: AutoTlsCredentials;
  /** Called after each AutoMTLS renewal with the new certificate's expiry. */
  onCertificateRenewed?: (notAfter: Date) => void;
  /** Default env PLUGBOARD_LAUNCH_SECRET, removed from process.env once read. */
  launchSecret?: string;
  /**
   * Proves the plugin's name to a host that did not launch it (from `plugboard enrol <name>` or
   * host.issueEnrolmentToken). Default env PLUGBOARD_ENROLMENT_TOKEN, removed from process.env once read.
   * Kept for re-handshakes, which succeed while the token has uses left.
   */
  enrolmentToken?: string;
  /**
   * A bearer JWT sent with the handshake only (hosts with a JWT authenticator whose pluginNameClaim
   * names this plugin). Called for each handshake, so it can fetch a fresh token.
   */
  handshakeJwt?: () => string | Promise<string>;
  /** For https hosts: the CA to trust, and a client certificate for mTLS. */
  hostTls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer };
  logger?: Logger;
  /** Refresh the runtime token at this fraction of its lifetime. Default 0.5. */
  refreshAt?: number;
  /** Retry for routed clients; off unless given (here or per client). */
  retry?: RetryOptions;
  /** Circuit breaker for routed clients; off unless given (here or per client). */
  circuitBreaker?: BreakerOptions;
  /** Signals that stop the plugin gracefully and exit; false to handle them yourself. */
  shutdownSignals?: NodeJS.Signals[] | false;
  drainTimeoutMs?: number;
  /** Largest message served or sent, in bytes. Default 4 MiB. */
  maxMessageBytes?: number;
  /**
   * How often a providing plugin checks in with the host (LifecycleService.Heartbeat): renews its
   * registrations' lease (at least every third of the lease the host states) and notices a
   * restarted host (re-handshakes, re-registers) without waiting for its next token refresh.
   * Default 1 s; 0 disables (the host then removes the registrations when their lease runs out).
   */
  heartbeatMs?: number;
  /**
   * connect-es interceptors. `server`: around every call this plugin serves (after the host's signed
   * caller header is checked, so `ctx.values.get(callerKey)` / `req.contextValues` are set).
   * `client`: around every call this plugin makes through `client()` and `capability()` (first, before
   * retry and the runtime token), e.g. tracing or logging.
   */
  interceptors?: { server?: Interceptor[]; client?: Interceptor[] };
  /** After a declared secret rotates, how long `previousSecret(name)` still returns the version it replaced. Default 5 min. */
  secretGraceMs?: number;
}

/** PEM certificate, key and CA; the SDK replaces cert and key in place when it renews them. */
export interface AutoTlsCredentials {
  cert: string;
  key: string;
  ca: string;
}

const AUTO_TLS_ENV = { cert: "PLUGBOARD_TLS_CERT", key: "PLUGBOARD_TLS_KEY", ca: "PLUGBOARD_TLS_CA" } as const;

/** Reads the launcher's AutoMTLS variables and deletes them, so the plugin's own children do not inherit the key. */
function takeAutoTls(env: NodeJS.ProcessEnv): AutoTlsCredentials | undefined {
  const [cert, key, ca] = [env[AUTO_TLS_ENV.cert], env[AUTO_TLS_ENV.key], env[AUTO_TLS_ENV.ca]];
  for (const name of Object.values(AUTO_TLS_ENV)) delete env[name];
  if (cert === undefined && key === undefined && ca === undefined) return undefined;
  if (!cert || !key || !ca) fail(`${Object.values(AUTO_TLS_ENV).join(", ")} must be set together`);
  return { cert: cert!, key: key!, ca: ca! };
}

export interface ResolvedPluginOptions {
  hostUrl: string;
  name: string;
  version: string;
  magicCookie: { key: string; value: string };
  appProtocolRanges: string[];
  provides: Provided[];
  requires: Required[];
  capabilities: DescService[];
  secrets: { name: string; optional?: boolean; version?: string }[];
  listen: { port: number; hostname: string; tls?: TlsFiles };
  launchSecret: string;
  enrolmentToken: string;
  handshakeJwt?: () => string | Promise<string>;
  hostTls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer };
  /** Set when AutoMTLS is on: the same object is hostTls and listen.tls, renewed in place. */
  autoTls?: AutoTlsCredentials;
  logger: Logger;
  refreshAt: number;
  retry?: RetryOptions;
  circuitBreaker?: BreakerOptions;
  shutdownSignals: NodeJS.Signals[];
  drainTimeoutMs: number;
  maxMessageBytes: number;
  heartbeatMs: number;
  interceptors: { server: Interceptor[]; client: Interceptor[] };
  secretGraceMs: number;
}

function cookieFromEnv(env: NodeJS.ProcessEnv): { key: string; value: string } | undefined {
  const key = env["PLUGBOARD_MAGIC_COOKIE_KEY"];
  const value = env["PLUGBOARD_MAGIC_COOKIE_VALUE"];
  return key && value ? { key, value } : undefined;
}

const fail = (message: string): never => {
  throw new Error(`createPlugin: ${message}`);
};

/** Validates once, fills defaults; mistakes fail at construction, not at the first call. */
export function resolvePluginOptions(options: PluginOptions, env: NodeJS.ProcessEnv = process.env): ResolvedPluginOptions {
  const hostUrl = options.hostUrl ?? env["PLUGBOARD_HOST_URL"] ?? fail("hostUrl (or env PLUGBOARD_HOST_URL) is required");
  if (!/^https?:\/\/[^/]+\/?$/.test(hostUrl)) fail("hostUrl must be http(s)://host:port");
  if (!options.name) fail("name is required");
  if (semver.valid(options.version) === null) fail("version must be a semver version");
  const magicCookie = options.magicCookie ?? cookieFromEnv(env);
  if (!magicCookie?.key || !magicCookie.value) {
    fail("magicCookie.key and magicCookie.value are required (or env PLUGBOARD_MAGIC_COOKIE_KEY and PLUGBOARD_MAGIC_COOKIE_VALUE, which the host's launcher sets)");
  }
  const provides = options.provides ?? [];
  const types = new Set<string>();
  for (const p of provides) {
    if (types.has(p.service.typeName)) fail(`${p.service.typeName} is provided twice`);
    types.add(p.service.typeName);
    if (p.version !== undefined && semver.valid(p.version) === null) fail(`version of ${p.service.typeName} must be semver`);
  }
  for (const r of options.requires ?? [])
    if (r.versionRange !== undefined && semver.validRange(r.versionRange) === null) fail(`versionRange of ${r.service.typeName} is invalid`);
  const refreshAt = options.refreshAt ?? 0.5;
  if (!(refreshAt > 0 && refreshAt < 1)) fail("refreshAt must be between 0 and 1");
  const envPort = env["PLUGBOARD_PLUGIN_PORT"];
  const port = options.listen?.port ?? (envPort !== undefined ? Number(envPort) : 0);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail("listen.port must be a port number");
  const launchSecret = options.launchSecret ?? env["PLUGBOARD_LAUNCH_SECRET"] ?? "";
  // Read once; a child process the plugin spawns must not inherit it.
  if (options.launchSecret === undefined) delete env["PLUGBOARD_LAUNCH_SECRET"];
  const enrolmentToken = options.enrolmentToken ?? env["PLUGBOARD_ENROLMENT_TOKEN"] ?? "";
  if (options.enrolmentToken === undefined) delete env["PLUGBOARD_ENROLMENT_TOKEN"];
  const fromEnv = takeAutoTls(env);
  const autoTls = options.hostTls ? undefined : (options.autoTls ?? fromEnv);
  if (autoTls && !/^https:/.test(hostUrl)) fail("AutoMTLS credentials need an https:// hostUrl");
  const listenTls = options.listen?.tls ?? autoTls;
  const hostTls = options.hostTls ?? autoTls;
  const drainTimeoutMs = options.drainTimeoutMs ?? 10_000;
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_LIMITS.maxMessageBytes;
  const heartbeatMs = options.heartbeatMs ?? 1_000;
  if (!(drainTimeoutMs >= 0 && maxMessageBytes > 0 && heartbeatMs >= 0)) fail("drainTimeoutMs, maxMessageBytes and heartbeatMs must be non-negative");
  return {
    hostUrl: hostUrl.replace(/\/$/, ""),
    name: options.name,
    version: options.version,
    magicCookie: { key: magicCookie!.key, value: magicCookie!.value },
    appProtocolRanges: options.appProtocolRanges ?? ["^1.0.0"],
    provides,
    requires: options.requires ?? [],
    capabilities: options.capabilities ?? [],
    secrets: options.secrets ?? [],
    listen: { port, hostname: options.listen?.hostname ?? "127.0.0.1", ...(listenTls ? { tls: listenTls } : {}) },
    secretGraceMs: options.secretGraceMs ?? 5 * 60_000,
    launchSecret,
    enrolmentToken,
    ...(options.handshakeJwt ? { handshakeJwt: options.handshakeJwt } : {}),
    ...(hostTls ? { hostTls } : {}),
    ...(autoTls ? { autoTls } : {}),
    logger: options.logger ?? createLogger({ name: `plugin:${options.name}` }),
    refreshAt,
    ...(options.retry ? { retry: options.retry } : {}),
    ...(options.circuitBreaker ? { circuitBreaker: options.circuitBreaker } : {}),
    shutdownSignals: options.shutdownSignals === false ? [] : (options.shutdownSignals ?? ["SIGTERM", "SIGINT"]),
    drainTimeoutMs,
    maxMessageBytes,
    heartbeatMs,
    interceptors: { server: [...(options.interceptors?.server ?? [])], client: [...(options.interceptors?.client ?? [])] },
  };
}
