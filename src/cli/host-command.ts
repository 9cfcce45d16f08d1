import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigError } from "./config-fields.js";
import type { Command } from "commander";
import { createPluginHost, type PluginHost } from "../host/create.js";
import type { PluginHostOptions } from "../host/options.js";
import type { Authenticator } from "../identity/identity.js";
import { createJwtAuthenticator } from "../identity/jwt.js";
import { createMtlsAuthenticator } from "../identity/mtls.js";
import type { pino } from "pino";
import { spiffePluginNames } from "../identity/name-proof.js";
import { createLogger, type Logger } from "../log/logger.js";
import { prettyDestination } from "../log/pretty.js";
import { createRbac, loadRbacConfig } from "../policy/rbac.js";
import { createSwappableRbac, type SwappableRbac } from "../policy/swappable-rbac.js";
import { createRouterRateLimiter } from "../ratelimit/router-rate-limiter.js";
import { createSwappableRateLimiter, type SwappableRateLimiter } from "../ratelimit/swappable.js";
import { logRateLimitFallback } from "../host/rate-limit-fallback-log.js";
import { createConfigReloader, pluginSpecOf, type ReloadResult } from "./reload.js";
import { pidFileOf, writePidFile } from "./pid-file.js";
import { createSecretProvider, type SecretProviderConfig } from "../secrets/config.js";
import type { SecretWatchOptions } from "../secrets/watch.js";
import { loadHostConfig, type HostConfig, type RedisStoreConfig } from "./host-config.js";
import { createLauncher } from "../launcher/launcher.js";
import { createAdminCredential } from "../ops/index.js";
import { startHostOps } from "./host-ops.js";
import { deferred } from "../launcher/deferred.js";
import type { FailureEvent } from "../launcher/supervisor.js";

/** Builds the host options a config file describes. */
export async function hostOptionsFromConfig(config: HostConfig, logger: Logger, output: HostOutput = {}): Promise<PluginHostOptions> {
  const authenticators: Authenticator[] = [];
  if (config.identity.mtls) {
    const { pluginPathPrefix, ...mtls } = config.identity.mtls;
    authenticators.push(createMtlsAuthenticator({ ...mtls, ...(pluginPathPrefix ? { pluginName: spiffePluginNames(pluginPathPrefix) } : {}) }));
  }
  if (config.identity.jwt) authenticators.push(createJwtAuthenticator(config.identity.jwt));
  return {
    magicCookie: config.magicCookie,
    logger,
    ...(output.destination ? { auditLog: { destination: output.destination } } : {}),
    authenticators,
    allowedEndpointHosts: config.allowedEndpointHosts,
    requireLaunchSecret: config.requireLaunchSecret,
    allowUnprovenNames: config.allowUnprovenNames,
    reservedNames: config.reservedNames,
    limits: config.limits,
    ...(config.appProtocolVersions ? { appProtocolVersions: config.appProtocolVersions } : {}),
    ...(config.runtimeTokenTtlMs ? { runtimeTokenTtlMs: config.runtimeTokenTtlMs } : {}),
    ...(config.grantTtlMs ? { grantTtlMs: config.grantTtlMs } : {}),
    ...(config.healthProbe ? { healthProbe: config.healthProbe } : {}),
    ...(config.registrationLeaseMs === undefined ? {} : { registrationLeaseMs: config.registrationLeaseMs }),
    ...(config.sweepIntervalMs === undefined ? {} : { sweepIntervalMs: config.sweepIntervalMs }),
    ...(config.outlierEjection === undefined ? {} : { outlierEjection: config.outlierEjection }),
    ...(config.rbacFile ? { rbac: createSwappableRbac(createRbac(await loadRbacConfig(config.rbacFile))) } : {}),
    // Budgets in memory sit behind a swappable holder so a reload can change them; Redis-kept ones stay as started.
    ...(config.store.kind === "memory"
      ? { rateLimit: createSwappableRateLimiter(config.rateLimit && createRouterRateLimiter({ onFallback: logRateLimitFallback(logger), ...config.rateLimit })) }
      : config.rateLimit ? { rateLimit: config.rateLimit } : {}),
    ...(config.secrets ? { secrets: secretsFromConfig(config.secrets, logger) } : {}),
    // One setting puts state and rate-limit budgets in Redis, so every replica shares both.
    // ioredis is an optional peer: loaded only for a Redis store.
    ...(config.store.kind === "redis" ? await redisState(config.store, logger, config.rateLimit) : {}),
  };
}

export interface StartedHost {
  host: PluginHost;
  url: string;
  /** The ops listener (metrics, probes, dashboard), when the config has `ops:`. */
  opsUrl: string | undefined;
  /** Plugins that could not be started (the host serves the others). */
  failed: string[];
  /** Resolves when a plugin fails for good and the config says `exitOnPluginFailure: true`. */
  fatalFailure: Promise<FailureEvent>;
  /** Re-reads the config file and swaps what can change without a restart (SIGHUP does this). */
  reload(): Promise<ReloadResult>;
  stop(): Promise<void>;
}

/** Where the host's log and audit records go (default: JSON lines on stdout). */
export interface HostOutput {
  destination?: pino.DestinationStream;
}

/** Starts a standalone host from a config file (what `plugboard host` runs). */
export async function startHostFromConfig(configFile: string, logger: Logger = createLogger({ name: "plugboard" }), output: HostOutput = {}): Promise<StartedHost> {
  const config = loadHostConfig(configFile);
  const options = await hostOptionsFromConfig(config, logger, output);
  // The operator credential plugboard status reads from the credentials file (docs/operations.md).
  const adminCredential = createAdminCredential();
  const host = createPluginHost({ ...options, adminCredential, ...(config.ops ? { ops: config.ops } : {}) });
  const tls = config.tls === "auto" ? ("auto" as const) : config.tls && {
    cert: readFileSync(config.tls.cert),
    key: readFileSync(config.tls.key),
    ...(config.tls.ca ? { ca: readFileSync(config.tls.ca) } : {}),
    requestCert: config.tls.requestClientCert,
  };
  const server = await host
    .listen({ port: config.listen.port, hostname: config.listen.hostname, ...(tls ? { tls } : {}) })
    .catch(async (error: unknown) => {
      await host.close().catch(() => undefined);
      // e.g. a key that does not match its certificate: name the files, not only OpenSSL's words.
      if (config.tls && config.tls !== "auto" && /PEM|key|cert|SSL/i.test((error as Error).message))
        throw new ConfigError("tls", `${(error as Error).message} (cert ${config.tls.cert}, key ${config.tls.key})`, resolve(configFile));
      throw error;
    });
  const ops = await startHostOps(host, config, server.url, adminCredential, logger);
  const fatal = deferred<FailureEvent>();
  const launcher = createLauncher({
    host,
    hostUrl: server.url,
    logger,
    // One plugin giving up is reported (its supervisor logged and audited it; the launched_plugins metric
    // shows it) and the host keeps serving the others, unless the config asks to exit.
    onFailure(event) {
      if (reloader.current.exitOnPluginFailure) fatal.resolve(event);
      else logger.warn({ plugin: event.name, state: event.state }, "plugin failed; the host keeps serving the others (exitOnPluginFailure: false)");
    },
  });
  const reloader = createConfigReloader({
    configFile,
    initial: config,
    launcher,
    rbac: options.rbac as SwappableRbac | undefined,
    rateLimiter: options.rateLimit && "swap" in options.rateLimit ? (options.rateLimit as SwappableRateLimiter) : undefined,
    logger,
    audit: host.audit,
  });
  const stop = async () => {
    ops.release();
    await launcher.stopAll();
    await host.close();
  };
  let statuses;
  try {
    statuses = await launcher.startAll(config.plugins.map(pluginSpecOf), { keepGoing: !config.exitOnPluginFailure });
  } catch (error) {
    await stop();
    throw error;
  }
  const failed = statuses.filter((s) => s.state !== "ready").map((s) => s.name);
  return { host, url: server.url, opsUrl: ops.opsUrl, failed, fatalFailure: fatal.promise, reload: reloader.reload, stop };
}

export function registerHostCommand(program: Command): Command {
  return program
    .command("host")
    .description("run a standalone plugin host")
    .requiredOption("-c, --config <file>", "host configuration (YAML or JSON)")
    .option("--pretty", "human-readable logs through pino-pretty (default when stdout is a terminal)")
    .option("--no-pretty", "JSON log lines even on a terminal")
    .action(async (opts: { config: string; pretty?: boolean }) => {
      const pretty = opts.pretty ?? process.stdout.isTTY === true;
      const output: HostOutput = pretty ? { destination: await prettyDestination() } : {};
      const logger = createLogger({ name: "plugboard", ...output });
      // Signals are handled from the first moment: a stop during start-up still stops the plugins launched so far.
      const starting = startHostFromConfig(opts.config, logger, output);
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, "stopping host");
        const started = await starting.catch(() => undefined);
        await started?.stop();
        process.exit(0);
      };
      process.on("SIGTERM", () => void stop("SIGTERM"));
      process.on("SIGINT", () => void stop("SIGINT"));
      // SIGHUP (what `plugboard reload` sends) reloads the config; until the host is up it is ignored.
      let reload: (() => Promise<unknown>) | undefined;
      process.on("SIGHUP", () => {
        if (reload && !stopping) void reload();
        else logger.warn("SIGHUP before the host is ready: ignored");
      });
      const started = await starting;
      reload = started.reload;
      const removePidFile = writePidFile(pidFileOf(opts.config));
      process.once("exit", removePidFile);
      logger.info({ url: started.url, ...(started.opsUrl ? { opsUrl: started.opsUrl } : {}), ...(started.failed.length > 0 ? { failedPlugins: started.failed } : {}) }, "plugboard host ready");
      void started.fatalFailure.then(async (event) => {
        if (stopping) return;
        stopping = true;
        logger.fatal({ plugin: event.name, state: event.state, reason: event.reason }, "plugin failed and exitOnPluginFailure is set: stopping the host");
        await started.stop().catch(() => undefined);
        process.exit(1);
      });
    });
}

/** `secrets:` is the provider's config plus `watch` (WatchSecrets refresh interval and jitter). */
function secretsFromConfig(secrets: Record<string, unknown>, logger: Logger) {
  const { watch, ...provider } = secrets;
  return {
    provider: createSecretProvider(provider as unknown as SecretProviderConfig, { logger }),
    ...(watch ? { watch: watch as SecretWatchOptions } : {}),
  };
}

async function redisState(store: RedisStoreConfig, logger: Logger, rateLimit: HostConfig["rateLimit"]) {
  const { source, reconnectMaxDelayMs, durableWrites, readCache, feedSilenceMs } = store;
  const redisStore = {
    ...(reconnectMaxDelayMs !== undefined ? { reconnectMaxDelayMs } : {}),
    ...(durableWrites !== undefined ? { durableWrites } : {}),
    ...(feedSilenceMs !== undefined ? { feedSilenceMs } : {}),
  };
  const { createRedisHostState } = await import("../host/with-redis.js");
  return createRedisHostState({ redis: source, logger, rateLimit, redisStore, readCache });
}
