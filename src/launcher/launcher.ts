import type { AuditSink } from "../audit/audit.js";
import type { PluginHost } from "../host/create.js";
import type { Logger } from "../log/logger.js";
import { drainRuntime } from "./drain.js";
import { dependencyLayers } from "./order.js";
import type { OutputCaptureOptions } from "./output.js";
import { resolveSpec, type PluginSpec } from "./spec.js";
import { forgetDeadLaunches } from "./launch-records.js";
import { createSupervisor, type FailureEvent, type PluginStatus, type RestartEvent, type Supervisor } from "./supervisor.js";

export interface LauncherOptions {
  host: PluginHost;
  /** URL plugins reach the host at (PLUGBOARD_HOST_URL), e.g. `(await host.listen()).url`. */
  hostUrl: string;
  /** Default: the host's logger. Plugin output is logged here tagged `{ plugin, stream }`. */
  logger?: Logger;
  /** Receives plugin.start / plugin.stop / plugin.restart records. */
  audit?: AuditSink;
  onRestart?: (event: RestartEvent) => void;
  /** A plugin failed for good (start failure, exit under policy "never", or gave up restarting). */
  onFailure?: (event: FailureEvent) => void;
  output?: OutputCaptureOptions;
  /** In-flight routed calls per runtime; default the host's own count. replace() waits for zero. */
  inFlight?: (runtimeId: string) => number;
  /** replace(): wait after unregistering the old instance for calls already routed to it. Default 500 ms. */
  drainSettleMs?: number;
  /** replace(): longest wait for in-flight calls to the old instance. Default 30 s. */
  drainTimeoutMs?: number;
  /** Signal plugins when this process exits (the 'exit' event). Default true. */
  stopOnExit?: boolean;
}

export interface Launcher {
  /** Spawns a plugin and resolves once it is ready (handshook, required services registered). */
  start(spec: PluginSpec): Promise<PluginStatus>;
  /**
   * Starts plugins in dependency order: each provider is ready before the plugins requiring it start.
   * Rejects at the first plugin that cannot start, unless `keepGoing`: then every plugin is tried
   * (one failing does not stop the others) and the statuses, failed ones included, are returned.
   */
  startAll(specs: PluginSpec[], options?: { keepGoing?: boolean }): Promise<PluginStatus[]>;
  /** Starts `spec` as the new version of `name`, then drains and stops the old instance. */
  replace(name: string, spec: PluginSpec): Promise<PluginStatus>;
  stop(name: string): Promise<void>;
  stopAll(): Promise<void>;
  list(): PluginStatus[];
}

export function createLauncher(options: LauncherOptions): Launcher {
  if (!options?.host || typeof options.host.issueLaunchSecret !== "function") throw new Error("createLauncher: host is required");
  if (typeof options.hostUrl !== "string" || !/^https?:\/\//.test(options.hostUrl))
    throw new Error("createLauncher: hostUrl must be an http:// or https:// URL");
  const logger = options.logger ?? options.host.logger;
  const drainSettleMs = options.drainSettleMs ?? 500;
  const drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
  const supervisors = new Map<string, Supervisor>();
  /** What each plugin provides and requires, for stopping dependents before their providers. */
  const declared = new Map<string, { name: string; provides: string[]; requires: string[] }>();
  const claimed = new Set<string>();
  const deps = {
    host: options.host,
    hostUrl: options.hostUrl,
    logger,
    // By default plugin start/stop/restart land in the host's audit log and restart counter.
    audit: options.audit ?? options.host.audit,
    onRestart: (event: RestartEvent) => {
      options.host.metrics.pluginRestarts.inc({ plugin: event.name });
      options.onRestart?.(event);
    },
    onFailure: options.onFailure,
    output: options.output ?? {},
    claimed,
  };
  // `plugboard_launched_plugins{plugin,state}`: a plugin that gave up is visible, not just logged.
  options.host.metrics.addLaunchedPlugins(() => [...supervisors.values()].map((s) => s.status()));

  // Runtimes a killed predecessor of this host launched died with it: out of the store before any start.
  const forgotten = forgetDeadLaunches(options.host.store, logger).catch((e: unknown) => logger.warn({ err: String(e) }, "could not check for dead launches"));

  // A host that exits normally takes its plugins along; a killed one relies on the plugins' watchdog.
  const onProcessExit = () => {
    for (const s of supervisors.values()) s.killNow();
  };
  let exitHookInstalled = false;
  const installExitHook = () => {
    if (exitHookInstalled || options.stopOnExit === false) return;
    process.on("exit", onProcessExit);
    exitHookInstalled = true;
  };

  async function start(spec: PluginSpec): Promise<PluginStatus> {
    const resolved = resolveSpec(spec);
    const existing = supervisors.get(resolved.name);
    if (existing && !["stopped", "failed", "gave-up"].includes(existing.status().state))
      throw new Error(`launcher: plugin ${resolved.name} is already running`);
    const supervisor = createSupervisor(resolved, deps);
    supervisors.set(resolved.name, supervisor);
    declared.set(resolved.name, { name: resolved.name, provides: resolved.provides, requires: resolved.requires });
    installExitHook();
    await forgotten;
    await supervisor.start();
    return supervisor.status();
  }

  return {
    start,
    async startAll(specs, startOptions = {}) {
      const layers = dependencyLayers(specs.map((spec) => ({ ...spec, provides: spec.provides ?? [], requires: spec.requires ?? [] })));
      const started: PluginStatus[] = [];
      for (const layer of layers) {
        if (!startOptions.keepGoing) {
          started.push(...(await Promise.all(layer.map((spec) => start(spec)))));
          continue;
        }
        // Already logged and audited by its supervisor; the status says how it ended.
        await Promise.allSettled(layer.map((spec) => start(spec)));
        for (const spec of layer) {
          const status = supervisors.get(spec.name)?.status();
          if (status) started.push(status);
        }
      }
      return started;
    },
    async replace(name, spec) {
      const old = supervisors.get(name);
      if (!old) throw new Error(`launcher: no plugin ${name} to replace`);
      const resolved = resolveSpec({ ...spec, name });
      const next = createSupervisor(resolved, deps);
      // The old instance keeps serving until the new one is ready.
      await next.start();
      supervisors.set(name, next);
      declared.set(name, { name, provides: resolved.provides, requires: resolved.requires });
      old.retire();
      const oldRuntime = old.status().runtimeId;
      if (oldRuntime !== undefined) {
        const drained = await drainRuntime({
          store: options.host.store,
          runtimeId: oldRuntime,
          inFlight: options.inFlight ?? options.host.inFlight,
          settleMs: drainSettleMs,
          timeoutMs: drainTimeoutMs,
        });
        if (!drained) logger.warn({ plugin: name, runtimeId: oldRuntime }, "replace: in-flight calls outlived the drain timeout");
      }
      await old.stop();
      logger.info({ plugin: name, runtimeId: next.status().runtimeId }, "plugin replaced");
      return next.status();
    },
    async stop(name) {
      await supervisors.get(name)?.stop();
    },
    async stopAll() {
      // Reverse start order: dependents stop (and drain their calls) while their providers still serve.
      let layers: string[][];
      try {
        layers = dependencyLayers([...supervisors.keys()].map((name) => declared.get(name) ?? { name, provides: [], requires: [] }))
          .map((layer) => layer.map((d) => d.name))
          .reverse();
      } catch {
        layers = [[...supervisors.keys()]]; // a cycle cannot be ordered: stop everything together
      }
      for (const layer of layers) await Promise.all(layer.map((name) => supervisors.get(name)?.stop()));
      if (exitHookInstalled) process.off("exit", onProcessExit);
      exitHookInstalled = false;
    },
    list() {
      return [...supervisors.values()].map((s) => s.status());
    },
  };
}
