import type { AuditSink } from "../audit/audit.js";
import { auditPluginProcess } from "../audit/plugin-process.js";
import type { PluginHost } from "../host/create.js";
import type { Logger } from "../log/logger.js";
import { recordLaunch } from "./launch-records.js";
import { createRestartTracker, shouldRestart } from "./backoff.js";
import { deferred } from "./deferred.js";
import { pluginEnv } from "./env.js";
import { freePort } from "./free-port.js";
import { captureOutput, type OutputCaptureOptions } from "./output.js";
import { spawnGroup, type ExitInfo, type GroupProcess } from "./process-group.js";
import { describeProgress, runtimesOf, waitForReady, type ReadinessQuery } from "./readiness.js";
import type { RuntimeRecord } from "../store/types.js";
import { sandboxCommand, watchMemoryCeiling } from "../sandbox/index.js";
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

export interface FailureEvent {
  name: string;
  state: "failed" | "gave-up";
  reason: string;
}

export interface SupervisorDeps {
  host: PluginHost;
  hostUrl: string;
  logger: Logger;
  audit: AuditSink | undefined;
  onRestart: ((event: RestartEvent) => void) | undefined;
  /** A plugin ended up failed or gave up: it will not run again unless started anew. */
  onFailure: ((event: FailureEvent) => void) | undefined;
  output: OutputCaptureOptions;
  /** Runtime IDs owned by any instance of this launcher: never mistaken for a new instance's. */
  claimed: Set<string>;
}

/** One spawn of the plugin, until it is ready or gone. */
interface Attempt {
  abort: AbortController;
  query: ReadinessQuery;
  /** Set once the start timeout gave up on it. */
  timedOut: boolean;
  /** "spawned as pid 123" or "not spawned", for failure messages. */
  spawned: string;
}

/** The pid for logs: none for a process that could not be spawned. */
const pidOf = (p: GroupProcess) => (p.pid > 0 ? { pid: p.pid } : {});

/** A run counts as stable (backoff resets) once it stayed ready this long. */
const STABLE_AFTER_MS = 10_000;

function describeExit(exit: ExitInfo): string {
  if (exit.signal) return `killed by ${exit.signal}`;
  if (exit.code === -1) return `could not be spawned (${exit.spawnError ?? "unknown error"})`;
  return `exit code ${exit.code}`;
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
  let pendingReady: Attempt | undefined;
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

  function reportFailure(failedState: FailureEvent["state"], reason: string) {
    try {
      deps.onFailure?.({ name: spec.name, state: failedState, reason });
    } catch (e) {
      log.warn({ err: String(e) }, "onFailure hook threw");
    }
  }

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
    // With AutoMTLS, a certificate carrying the plugin's SPIFFE ID (undefined otherwise).
    const tls = await host.issuePluginCredentials(spec.name);
    if (retiring) return;
    const launchSecret = host.issueLaunchSecret(spec.name, spec.startTimeoutMs + 60_000);
    const env = pluginEnv(spec, { hostUrl: deps.hostUrl, launchSecret, port, parentPid: process.pid, tls, magicCookie: host.magicCookie });
    const p = spawnGroup({ ...sandboxCommand(spec.sandbox, { command: spec.command, args: spec.args, env, cwd: spec.cwd }), cwd: spec.cwd });
    proc = p;
    watchCeiling(p);
    if (p.child.stdout) captureOutput(p.child.stdout, logger, { plugin: spec.name, stream: "stdout" }, deps.output);
    if (p.child.stderr) captureOutput(p.child.stderr, logger, { plugin: spec.name, stream: "stderr" }, deps.output);
    if (p.pid > 0) log.info({ ...pidOf(p), port }, "plugin process started");
    else void p.exited.then((exit) => log.error({ command: spec.command, err: exit.spawnError }, "plugin process could not be spawned"));

    const abort = new AbortController();
    const query: ReadinessQuery = {
      store: host.store,
      pluginName: spec.name,
      exclude: (id) => before.has(id) || deps.claimed.has(id),
      ...(spec.registrations ? { registrations: spec.registrations } : {}),
    };
    const attempt: Attempt = { abort, query, timedOut: false, spawned: p.pid > 0 ? `spawned as pid ${p.pid}` : "not spawned" };
    pendingReady = attempt;
    const timer = setTimeout(() => {
      // Say what did and did not happen, then give up on this instance (unless it exited meanwhile).
      void describeProgress(query).then((progress) => {
        if (abort.signal.aborted) return;
        attempt.timedOut = true;
        abort.abort(new Error(`plugin ${spec.name} did not become ready within ${spec.startTimeoutMs} ms: ${attempt.spawned}; ${progress}`));
      });
    }, spec.startTimeoutMs);
    void p.exited.then((exit) => onExit(p, exit, attempt));
    try {
      const runtime = await waitForReady(query, abort.signal);
      warnOnSpecMismatch(runtime);
      runtimeId = runtime.runtimeId;
      deps.claimed.add(runtime.runtimeId);
      await recordLaunch(host.store, runtime.runtimeId, p.pid).catch((e: unknown) => log.warn({ err: String(e) }, "could not record the launch"));
      state = "ready";
      readyAt = Date.now();
      initial = false;
      log.info({ ...pidOf(p), runtimeId }, "plugin ready");
      audit("start", "success");
      firstReady.resolve();
    } catch (e) {
      if (!attempt.timedOut) return; // the exit handler (or stop) decides what happens next
      const error = e as Error;
      log.error(pidOf(p), error.message);
      audit("start", "failure", "start timeout");
      if (initial) {
        state = "failed";
        firstReady.reject(error);
        reportFailure("failed", error.message);
      }
      // A hung plugin gets no grace: it never handshook, so it holds no calls.
      p.signal("SIGKILL");
    } finally {
      clearTimeout(timer);
      if (pendingReady === attempt) pendingReady = undefined;
    }
  }

  /** The spec's provides are only for start order; a mismatch with what the plugin declared is most likely a typo. */
  function warnOnSpecMismatch(runtime: RuntimeRecord) {
    const declared = runtime.provides.map((d) => d.type);
    const unknown = spec.provides.filter((t) => !declared.includes(t));
    if (unknown.length > 0)
      log.warn({ specProvides: unknown, declared }, "the spec lists provides the plugin did not declare (used only for start order)");
  }

  async function onExit(p: GroupProcess, exit: ExitInfo, attempt: Attempt): Promise<void> {
    if (p !== proc) return;
    // Whatever the group's leader left behind goes too.
    p.signal("SIGKILL");
    const wasReady = state === "ready";
    let exitedEarly = `plugin ${spec.name} exited before it was ready (${describeExit(exit)})`;
    if (pendingReady === attempt && !attempt.abort.signal.aborted) {
      exitedEarly += `: ${attempt.spawned}; ${await describeProgress(attempt.query)}`;
      attempt.abort.abort(new Error(exitedEarly));
    }
    await revokeRuntime();
    if (retiring) return;
    if (attempt.timedOut && state === "failed") return;
    if (wasReady && Date.now() - readyAt >= STABLE_AFTER_MS) tracker.stable();
    if (!shouldRestart(spec.restart.policy, exit, spec.restart.noRestartExitCodes)) {
      state = exit.code === 0 && !exit.signal ? "stopped" : "failed";
      // A clean exit 0 is a plugin finishing its work, not a problem.
      const level = state === "stopped" ? "info" : "warn";
      log[level]({ ...pidOf(p), exit: describeExit(exit) }, "plugin exited; not restarted (policy)");
      audit("stop", state === "stopped" ? "success" : "failure", describeExit(exit));
      firstReady.reject(new Error(exitedEarly));
      if (state === "failed") reportFailure("failed", wasReady ? `plugin ${spec.name} exited (${describeExit(exit)})` : exitedEarly);
      return;
    }
    const delayMs = tracker.next();
    if (delayMs === undefined) {
      state = "gave-up";
      const reason = `gave up: more than ${spec.restart.maxRestarts} restarts within ${spec.restart.windowMs} ms`;
      log.error({ ...pidOf(p), exit: describeExit(exit), restarts }, `plugin ${spec.name} ${reason}`);
      audit("restart", "failure", reason);
      firstReady.reject(new Error(`plugin ${spec.name} ${reason}`));
      reportFailure("gave-up", `plugin ${spec.name} ${reason} (last: ${describeExit(exit)})`);
      return;
    }
    state = "restarting";
    restarts++;
    log.warn({ ...pidOf(p), exit: describeExit(exit), restarts, delayMs }, "plugin exited; restarting");
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
      pendingReady?.abort.abort(new Error(`plugin ${spec.name} was stopped before it was ready`));
      firstReady.reject(new Error(`plugin ${spec.name} was stopped before it was ready`));
      const p = proc;
      if (p && !p.hasExited()) {
        const exit = await p.stop(spec.stopGraceMs);
        log.info({ ...pidOf(p), exit: describeExit(exit) }, "plugin stopped");
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
      return { name: spec.name, pid: proc && proc.pid > 0 ? proc.pid : undefined, state, restarts, runtimeId };
    },
  };
}

export type Supervisor = ReturnType<typeof createSupervisor>;
