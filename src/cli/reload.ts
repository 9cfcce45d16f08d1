import type { AuditSink } from "../audit/audit.js";
import type { Launcher } from "../launcher/launcher.js";
import type { PluginSpec } from "../launcher/spec.js";
import type { Logger } from "../log/logger.js";
import { createRbac, loadRbacConfig } from "../policy/rbac.js";
import type { SwappableRbac } from "../policy/swappable-rbac.js";
import { createRouterRateLimiter, type RouterRateLimiter } from "../ratelimit/index.js";
import type { SwappableRateLimiter } from "../ratelimit/swappable.js";
import { logRateLimitFallback } from "../host/rate-limit-fallback-log.js";
import { ConfigError } from "./config-fields.js";
import { loadHostConfig, type HostConfig, type PluginConfig } from "./host-config.js";

/** Keys a reload applies; changes to any other key are reported and wait for a restart. */
const RELOADABLE = new Set(["rbacFile", "rateLimit", "plugins", "exitOnPluginFailure"]);

export interface ReloadResult {
  ok: boolean;
  /** What changed (applied), e.g. `rbac`, `plugins +b -a ~c`. */
  applied: string[];
  /** Keys that changed but need a restart. */
  needsRestart: string[];
  /** Why the file was refused (then nothing changed). */
  problems: string[];
}

export interface ConfigReloaderOptions {
  configFile: string;
  initial: HostConfig;
  launcher: Launcher;
  /** Present when the host was started with RBAC (adding or removing `rbac:` needs a restart). */
  rbac: SwappableRbac | undefined;
  /** Present for a memory store (Redis-kept budgets keep their limits until a restart). */
  rateLimiter: SwappableRateLimiter | undefined;
  logger: Logger;
  audit: AuditSink;
}

/** The plugin spec the launcher runs for a config entry. */
export function pluginSpecOf(p: PluginConfig): PluginSpec {
  return {
    name: p.name,
    command: p.command,
    args: p.args,
    env: p.env,
    inheritEnv: p.inheritEnv,
    provides: p.provides,
    requires: p.requires,
    ...(p.restart ? { restart: p.restart } : {}),
    ...(p.sandbox ? { sandbox: p.sandbox } : {}),
  };
}

/**
 * Config reload without a restart (SIGHUP, `plugboard reload`): the file is validated in full and every new
 * part built before anything is swapped, so an invalid file leaves the running config untouched. Then RBAC
 * rules (secret scopes included), rate-limit budgets and the plugin list are swapped: removed plugins stop,
 * added ones start, changed ones are replaced. Every reload is audited (`config.reload`). Reloads run one at a time.
 */
export function createConfigReloader(options: ConfigReloaderOptions): { reload(): Promise<ReloadResult>; readonly current: HostConfig } {
  const { configFile, launcher, logger, audit } = options;
  let current = options.initial;
  let queue: Promise<unknown> = Promise.resolve();

  const refuse = (problems: string[]): ReloadResult => {
    logger.error({ configFile, problems }, "config reload refused: the running config is unchanged");
    audit({ event: "config.reload", outcome: "failure", target: configFile, reason: problems.join("; ") });
    return { ok: false, applied: [], needsRestart: [], problems };
  };

  const reloadOnce = async (): Promise<ReloadResult> => {
    let next: HostConfig;
    let rbac: ReturnType<typeof createRbac> | undefined;
    let limiter: RouterRateLimiter | undefined;
    try {
      next = loadHostConfig(configFile);
      if (Boolean(next.rbacFile) !== Boolean(options.rbac))
        throw new ConfigError("rbac", "adding or removing rbac needs a restart (changing its rules does not)", configFile);
      if (next.rbacFile) rbac = createRbac(await loadRbacConfig(next.rbacFile));
      if (next.rateLimit) limiter = createRouterRateLimiter({ onFallback: logRateLimitFallback(logger), ...next.rateLimit });
    } catch (error) {
      return refuse(error instanceof ConfigError ? error.message.split("\n") : [(error as Error).message]);
    }

    const changed = (key: keyof HostConfig) => JSON.stringify(current[key]) !== JSON.stringify(next[key]);
    const keys = new Set([...Object.keys(current), ...Object.keys(next)] as (keyof HostConfig)[]);
    const needsRestart = [...keys].filter((key) => !RELOADABLE.has(key) && changed(key));
    const applied: string[] = [];
    if (options.rbac && rbac) {
      options.rbac.swap(rbac);
      applied.push("rbac");
    }
    if (changed("rateLimit")) {
      if (options.rateLimiter) {
        options.rateLimiter.swap(limiter);
        applied.push("rateLimit");
      } else needsRestart.push("rateLimit");
    }
    const plugins = await swapPlugins(launcher, current.plugins, next.plugins, logger);
    if (plugins) applied.push(plugins);
    current = { ...next, ...(options.rateLimiter ? {} : { rateLimit: current.rateLimit }) };
    if (needsRestart.length > 0) logger.warn({ configFile, keys: needsRestart }, "config reload: these keys changed and need a restart");
    logger.info({ configFile, applied, ...(needsRestart.length > 0 ? { needsRestart } : {}) }, "config reloaded");
    audit({
      event: "config.reload",
      outcome: "success",
      target: configFile,
      reason: [applied.join(", ") || "nothing changed", ...(needsRestart.length > 0 ? [`needs restart: ${needsRestart.join(", ")}`] : [])].join("; "),
    });
    return { ok: true, applied, needsRestart, problems: [] };
  };

  return {
    reload() {
      const run = queue.then(reloadOnce, reloadOnce);
      queue = run.catch(() => undefined);
      return run;
    },
    get current() {
      return current;
    },
  };
}

/** Stops removed plugins, replaces changed ones, starts added ones; a plugin that fails to start is logged, not fatal. */
async function swapPlugins(launcher: Launcher, before: PluginConfig[], after: PluginConfig[], logger: Logger): Promise<string | undefined> {
  const old = new Map(before.map((p) => [p.name, p]));
  const now = new Map(after.map((p) => [p.name, p]));
  const removed = before.filter((p) => !now.has(p.name)).map((p) => p.name);
  const changed = after.filter((p) => old.has(p.name) && JSON.stringify(old.get(p.name)) !== JSON.stringify(p));
  const added = after.filter((p) => !old.has(p.name));
  for (const name of removed) await launcher.stop(name).catch((e: unknown) => logger.warn({ plugin: name, err: String(e) }, "config reload: stopping a removed plugin failed"));
  for (const p of changed) await launcher.replace(p.name, pluginSpecOf(p)).catch((e: unknown) => logger.error({ plugin: p.name, err: String(e) }, "config reload: replacing a changed plugin failed"));
  if (added.length > 0) {
    const statuses = await launcher.startAll(added.map(pluginSpecOf), { keepGoing: true }).catch((e: unknown) => {
      logger.error({ err: String(e) }, "config reload: starting added plugins failed");
      return [];
    });
    for (const s of statuses) if (s.state !== "ready") logger.warn({ plugin: s.name, state: s.state }, "config reload: an added plugin did not start");
  }
  const parts = [...added.map((p) => `+${p.name}`), ...removed.map((n) => `-${n}`), ...changed.map((p) => `~${p.name}`)];
  return parts.length > 0 ? `plugins ${parts.join(" ")}` : undefined;
}
