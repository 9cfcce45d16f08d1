import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { createPluginHost, type PluginHost } from "../host/create.js";
import type { PluginHostOptions } from "../host/options.js";
import type { Authenticator } from "../identity/identity.js";
import { createJwtAuthenticator } from "../identity/jwt.js";
import { createMtlsAuthenticator } from "../identity/mtls.js";
import { spiffePluginNames } from "../identity/name-proof.js";
import { createLogger, type Logger } from "../log/logger.js";
import { createRbac, loadRbacConfig } from "../policy/rbac.js";
import { createSecretProvider, type SecretProviderConfig } from "../secrets/config.js";
import type { SecretWatchOptions } from "../secrets/watch.js";
import { loadHostConfig, type HostConfig, type RedisStoreConfig } from "./host-config.js";
import { createLauncher } from "../launcher/launcher.js";
import { deferred } from "../launcher/deferred.js";
import type { FailureEvent } from "../launcher/supervisor.js";

/** Builds the host options a config file describes. */
export async function hostOptionsFromConfig(config: HostConfig, logger: Logger): Promise<PluginHostOptions> {
  const authenticators: Authenticator[] = [];
  if (config.identity.mtls) {
    const { pluginPathPrefix, ...mtls } = config.identity.mtls;
    authenticators.push(createMtlsAuthenticator({ ...mtls, ...(pluginPathPrefix ? { pluginName: spiffePluginNames(pluginPathPrefix) } : {}) }));
  }
  if (config.identity.jwt) authenticators.push(createJwtAuthenticator(config.identity.jwt));
  return {
    magicCookie: config.magicCookie,
    logger,
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
    ...(config.rateLimit ? { rateLimit: config.rateLimit } : {}),
    ...(config.rbacFile ? { rbac: createRbac(await loadRbacConfig(config.rbacFile)) } : {}),
    ...(config.secrets ? { secrets: secretsFromConfig(config.secrets, logger) } : {}),
    // One setting puts state and rate-limit budgets in Redis, so every replica shares both.
    // ioredis is an optional peer: loaded only for a Redis store.
    ...(config.store.kind === "redis" ? await redisState(config.store, logger, config.rateLimit) : {}),
  };
}

export interface StartedHost {
  host: PluginHost;
  url: string;
  /** Plugins that could not be started (the host serves the others). */
  failed: string[];
  /** Resolves when a plugin fails for good and the config says `exitOnPluginFailure: true`. */
  fatalFailure: Promise<FailureEvent>;
  stop(): Promise<void>;
}

/** Starts a standalone host from a config file (what `plugboard host` runs). */
export async function startHostFromConfig(configFile: string, logger: Logger = createLogger({ name: "plugboard" })): Promise<StartedHost> {
  const config = loadHostConfig(configFile);
  const host = createPluginHost(await hostOptionsFromConfig(config, logger));
  const tls = config.tls === "auto" ? ("auto" as const) : config.tls && {
    cert: readFileSync(config.tls.cert),
    key: readFileSync(config.tls.key),
    ...(config.tls.ca ? { ca: readFileSync(config.tls.ca) } : {}),
    requestCert: config.tls.requestClientCert,
  };
  const server = await host.listen({ port: config.listen.port, hostname: config.listen.hostname, ...(tls ? { tls } : {}) });
  const fatal = deferred<FailureEvent>();
  const launcher = createLauncher({
    host,
    hostUrl: server.url,
    logger,
    // One plugin giving up is reported (its supervisor logged and audited it; the launched_plugins metric
    // shows it) and the host keeps serving the others, unless the config asks to exit.
    onFailure(event) {
      if (config.exitOnPluginFailure) fatal.resolve(event);
      else logger.warn({ plugin: event.name, state: event.state }, "plugin failed; the host keeps serving the others (exitOnPluginFailure: false)");
    },
  });
  const stop = async () => {
    await launcher.stopAll();
    await host.close();
  };
  let statuses;
  try {
    statuses = await launcher.startAll(
      config.plugins.map((p) => ({
        name: p.name,
        command: p.command,
        args: p.args,
        env: p.env,
        inheritEnv: p.inheritEnv,
        provides: p.provides,
        requires: p.requires,
        ...(p.restart ? { restart: p.restart } : {}),
        ...(p.sandbox ? { sandbox: p.sandbox } : {}),
      })),
      { keepGoing: !config.exitOnPluginFailure },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  const failed = statuses.filter((s) => s.state !== "ready").map((s) => s.name);
  return { host, url: server.url, failed, fatalFailure: fatal.promise, stop };
}

export function registerHostCommand(program: Command): Command {
  return program
    .command("host")
    .description("run a standalone plugin host")
    .requiredOption("-c, --config <file>", "host configuration (YAML or JSON)")
    .action(async (opts: { config: string }) => {
      const logger = createLogger({ name: "plugboard" });
      // Signals are handled from the first moment: a stop during start-up still stops the plugins launched so far.
      const starting = startHostFromConfig(opts.config, logger);
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
      const started = await starting;
      logger.info({ url: started.url, ...(started.failed.length > 0 ? { failedPlugins: started.failed } : {}) }, "plugboard host ready");
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
  const { source, reconnectMaxDelayMs, durableWrites } = store;
  const redisStore = {
    ...(reconnectMaxDelayMs !== undefined ? { reconnectMaxDelayMs } : {}),
    ...(durableWrites !== undefined ? { durableWrites } : {}),
  };
  const { createRedisHostState } = await import("../host/with-redis.js");
  return createRedisHostState({ redis: source, logger, rateLimit, redisStore });
}
