import type { AuditSink } from "../audit/audit.js";
import { auditPluginProcess } from "../audit/plugin-process.js";
import type { PluginHost } from "../host/create.js";
import type { Logger } from "../log/logger.js";
import { createRestartTracker, shouldRestart } from "./backoff.js";
import { deferred } from "./deferred.js";
import { pluginEnv } from "./env.js";
import { freePort } from "./free-port.js";
import { captureOutput, type OutputCaptureOptions } from "./output.js";
import { spawnGroup, type ExitInfo, type GroupProcess } from "./process-group.js";
import { sandboxCommand, watchMemoryCeiling } from "../sandbox/index.js";
import { runtimesOf, waitForReady } from "./readiness.js";
import type { ResolvedSpec } from "./spec.js";

export type PluginState = "starting" | "ready" | "restarting" | "stopped" | "failed" | "gave-up";

export interface PluginStatus {
  name: string;
  pid: number | undefined;
  state: PluginState;
  restarts: number;
  runtimeId: string | undefined;
}

export interface RestartEvent {
  name: string;
  restarts: number;
  exit: ExitInfo;
  delayMs: number;
}

export interface SupervisorDeps {
  host: PluginHost;
  hostUrl: string;
  logger: Logger;
  audit: AuditSink | undefined;
  onRestart: ((event: RestartEvent) => void) | undefined;
  output: OutputCaptureOptions;
  /** Runtime IDs owned by any instance of this launcher: never mistaken for a new instance's. */
  claimed: Set<string>;
}

/** A run counts as stable (backoff resets) once it stayed ready this long. */
const STABLE_AFTER_MS = 10_000;

function describeExit(exit: ExitInfo): string {
  return exit.signal ? `killed by ${exit.signal}` : exit.code === -1 ? "could not be spawned" : `exit code ${exit.code}`;
}

/**
 * Runs one plugin and keeps it running: spawn, wait for readiness, restart with backoff after
 * a crash (revoking the crashed runtime so its registrations do not linger), give up after too
 * many restarts, stop with SIGTERM then SIGKILL.
 */
export function createSupervisor(spec: ResolvedSpec, deps: SupervisorDeps) {
  const { host, logger } = deps;
  const log = logger.child({ plugin: spec.name });
  const tracker = createRestartTracker(spec.restart);
  const firstReady = deferred<void>();
  let state: PluginState = "starting";
  let restarts = 0;
  let proc: GroupProcess | undefined;
  let runtimeId: string | undefined;
  let readyAt = 0;
  /** Set once stop (or a hand-over to a replacement) begins: exits are then expected. */
  let retiring = false;
  let restartTimer: NodeJS.Timeout | undefined;
  let pendingReady: AbortController | undefined;
  let initial = true;

  const audit = (action: "start" | "stop" | "restart", outcome: "success" | "failure", reason?: string) => {
    if (deps.audit)
      auditPluginProcess(deps.audit, {
        action,
        pluginName: spec.name,
        ...(proc && proc.pid > 0 ? { pid: proc.pid } : {}),
        outcome,
        ...(reason ? { reason } : {}),
      });
  };

  /** Past its memory ceiling the plugin is killed; its exit then goes through the restart policy like any crash. */
  function watchCeiling(p: GroupProcess): void {
    const ceiling = spec.sandbox?.memoryCeilingBytes;
    if (ceiling === undefined || p.pid <= 0) return;
    const watch = watchMemoryCeiling({
      pgid: p.pid,
      ceilingBytes: ceiling,
      intervalMs: spec.sandbox!.memoryCheckIntervalMs,
      onExceeded(resident) {
        const reason = `memory ceiling: ${resident} bytes resident, ceiling ${ceiling}`;
        log.warn({ pid: p.pid, residentBytes: resident, ceilingBytes: ceiling }, "plugin passed its memory ceiling; killing it");
        if (deps.audit) auditPluginProcess(deps.audit, { action: "memory-ceiling", pluginName: spec.name, pid: p.pid, outcome: "failure", reason });
        p.signal("SIGKILL");
      },
    });
    void p.exited.then(() => watch.stop());
  }

  async function revokeRuntime(): Promise<void> {
    const id = runtimeId;
    runtimeId = undefined;
    if (id === undefined) return;
    deps.claimed.delete(id);
    await host.store.removeRuntime(id, "revoked").catch((e: unknown) => log.warn({ err: String(e) }, "could not revoke runtime"));
  }

  async function launch(): Promise<void> {
    if (retiring) return;
    state = "starting";
    const port = spec.port ?? (await freePort());
    if (retiring) return;
    const before = await runtimesOf(host.store, spec.name);
    if (retiring) return;
    const launchSecret = host.issueLaunchSecret(spec.name, spec.startTimeoutMs + 60_000);
    const env = pluginEnv(spec, { hostUrl: deps.hostUrl, launchSecret, port, parentPid: process.pid });
    const p = spawnGroup({ ...sandboxCommand(spec.sandbox, { command: spec.command, args: spec.args, env, cwd: spec.cwd }), cwd: spec.cwd });
    proc = p;
    watchCeiling(p);
    if (p.child.stdout) captureOutput(p.child.stdout, logger, { plugin: spec.name, stream: "stdout" }, deps.output);
    if (p.child.stderr) captureOutput(p.child.stderr, logger, { plugin: spec.name, stream: "stderr" }, deps.output);
    log.info({ pid: p.pid, port }, "plugin process started");

    const abort = new AbortController();
    pendingReady = abort;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort(new Error(`plugin ${spec.name} did not become ready within ${spec.startTimeoutMs} ms`));
    }, spec.startTimeoutMs);
    void p.exited.then((exit) => onExit(p, exit, timedOut));
    try {
      const runtime = await waitForReady(
        {
          store: host.store,
          pluginName: spec.name,
          exclude: (id) => before.has(id) || deps.claimed.has(id),
          registrations: spec.registrations,
        },
        abort.signal,
      );
      runtimeId = runtime.runtimeId;
      deps.claimed.add(runtime.runtimeId);
      state = "ready";
      readyAt = Date.now();
      initial = false;
      log.info({ pid: p.pid, runtimeId }, "plugin ready");
      audit("start", "success");
      firstReady.resolve();
    } catch (e) {
      if (!timedOut) return; // the exit handler (or stop) decides what happens next
      const error = e as Error;
      log.error({ pid: p.pid }, error.message);
      audit("start", "failure", "start timeout");
      if (initial) {
        state = "failed";
        firstReady.reject(error);
      }
      // A hung plugin gets no grace: it never handshook, so it holds no calls.
      p.signal("SIGKILL");
    } finally {
      clearTimeout(timer);
      if (pendingReady === abort) pendingReady = undefined;
    }
  }

  async function onExit(p: GroupProcess, exit: ExitInfo, timedOut: boolean): Promise<void> {
    if (p !== proc) return;
    // Whatever the group's leader left behind goes too.
    p.signal("SIGKILL");
    const wasReady = state === "ready";
    pendingReady?.abort(new Error(`plugin ${spec.name} exited before it was ready (${describeExit(exit)})`));
    await revokeRuntime();
    if (retiring) return;
    if (timedOut && state === "failed") return;
    if (wasReady && Date.now() - readyAt >= STABLE_AFTER_MS) tracker.stable();
    if (!shouldRestart(spec.restart.policy, exit)) {
      state = exit.code === 0 && !exit.signal ? "stopped" : "failed";
      log.warn({ pid: p.pid, exit: describeExit(exit) }, "plugin exited; not restarted (policy)");
      audit("stop", state === "stopped" ? "success" : "failure", describeExit(exit));
      firstReady.reject(new Error(`plugin ${spec.name} exited before it was ready (${describeExit(exit)})`));
      return;
    }
    const delayMs = tracker.next();
    if (delayMs === undefined) {
      state = "gave-up";
      const reason = `gave up: more than ${spec.restart.maxRestarts} restarts within ${spec.restart.windowMs} ms`;
      log.error({ pid: p.pid, exit: describeExit(exit), restarts }, `plugin ${spec.name} ${reason}`);
      audit("restart", "failure", reason);
      firstReady.reject(new Error(`plugin ${spec.name} ${reason}`));
      return;
    }
    state = "restarting";
    restarts++;
    log.warn({ pid: p.pid, exit: describeExit(exit), restarts, delayMs }, "plugin exited; restarting");
    audit("restart", "success", describeExit(exit));
    try {
      deps.onRestart?.({ name: spec.name, restarts, exit, delayMs });
    } catch (e) {
      log.warn({ err: String(e) }, "onRestart hook threw");
    }
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      launch().catch((e: unknown) => log.error({ err: String(e) }, "restart failed"));
    }, delayMs);
  }

  return {
    name: spec.name,
    spec,
    /** Launches the first instance; resolves when it is ready. */
    start(): Promise<void> {
      launch().catch((e: unknown) => {
        state = "failed";
        firstReady.reject(e instanceof Error ? e : new Error(String(e)));
      });
      return firstReady.promise;
    },
    /** From now on exits are expected: nothing restarts (used before draining for a replacement). */
    retire() {
      retiring = true;
      if (restartTimer) clearTimeout(restartTimer);
    },
    async stop(): Promise<void> {
      this.retire();
      pendingReady?.abort(new Error(`plugin ${spec.name} was stopped before it was ready`));
      firstReady.reject(new Error(`plugin ${spec.name} was stopped before it was ready`));
      const p = proc;
      if (p && !p.hasExited()) {
        const exit = await p.stop(spec.stopGraceMs);
        log.info({ pid: p.pid, exit: describeExit(exit) }, "plugin stopped");
        audit("stop", "success", "stopped by host");
      }
      await revokeRuntime();
      state = "stopped";
    },
    /** Synchronous last resort for a host that is exiting: no grace is possible. */
    killNow() {
      retiring = true;
      if (proc && !proc.hasExited()) proc.signal("SIGTERM");
    },
    status(): PluginStatus {
      return { name: spec.name, pid: proc?.pid, state, restarts, runtimeId };
    },
  };
}

export type Supervisor = ReturnType<typeof createSupervisor>;
