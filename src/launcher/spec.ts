/** What the launcher needs to run one plugin process, and how to supervise it. */
import { LAUNCH_ENV } from "./env.js";
import { resolveSandbox, type ResolvedSandbox, type SandboxSpec } from "../sandbox/index.js";

export type RestartPolicyName = "on-failure" | "always" | "never";

export interface RestartPolicy {
  /** "on-failure": restart after a non-zero exit or a signal; "always": after any exit not asked for; "never". */
  policy: RestartPolicyName;
  /** First backoff delay; doubled per consecutive restart. Default 200 ms. */
  initialDelayMs?: number;
  /** Backoff ceiling. Default 10 s. */
  maxDelayMs?: number;
  /** More than this many restarts within `windowMs` → "gave-up". Default 5. */
  maxRestarts?: number;
  /** Default 60 s. */
  windowMs?: number;
  /**
   * Exit codes that mean "restarting will not help": the plugin fails at once instead. Default [2], what
   * the SDK's runPlugin exits with when the host refused it (wrong cookie, launch secret, missing required secret).
   */
  noRestartExitCodes?: number[];
}

export interface PluginSpec {
  name: string;
  /** Executable; resolved against PATH only when PATH is inherited, so absolute paths are safest. */
  command: string;
  args?: string[];
  cwd?: string;
  /** The plugin's whole environment besides the PLUGBOARD_* variables: the host's own is never passed on. */
  env?: Record<string, string>;
  /** Names of host environment variables passed through (e.g. ["PATH"]). Default none. */
  inheritEnv?: string[];
  /** Port for the plugin to serve on (PLUGBOARD_PLUGIN_PORT); default a free loopback port. */
  port?: number;
  /** From spawn to ready. Default 10 s. */
  startTimeoutMs?: number;
  readiness?: {
    /**
     * Service types that must be registered by this plugin before it counts as ready. Default: every
     * service the plugin itself declared it provides at handshake (under this launch's secret).
     */
    registrations?: string[];
  };
  /** Default { policy: "on-failure" }. */
  restart?: RestartPolicy;
  /** SIGTERM to SIGKILL. Default 5 s. */
  stopGraceMs?: number;
  /**
   * Optional, for start ordering only (`startAll`, `orderByDependencies`): service types provided and
   * required. Readiness does not use them: it follows what the plugin declares itself.
   */
  provides?: string[];
  requires?: string[];
  /** Confine the process: Node permission model, resource limits, memory ceiling, namespaces (docs/launcher.md). */
  sandbox?: SandboxSpec;
}

export interface ResolvedSpec {
  name: string;
  command: string;
  args: string[];
  cwd: string | undefined;
  env: Record<string, string>;
  inheritEnv: string[];
  port: number | undefined;
  startTimeoutMs: number;
  /** Explicit readiness registrations; undefined = the plugin's own declared provides. */
  registrations: string[] | undefined;
  restart: Required<RestartPolicy>;
  stopGraceMs: number;
  provides: string[];
  requires: string[];
  sandbox: ResolvedSandbox | undefined;
}

/** Variables only the launcher sets (see env.ts). */
const LAUNCHER_SET = new Set(Object.values(LAUNCH_ENV) as string[]);
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

function fail(name: string, message: string): never {
  throw new Error(`launcher: plugin ${JSON.stringify(name)}: ${message}`);
}

function nonNegative(name: string, field: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < 0) fail(name, `${field} must be a non-negative number`);
  return v;
}

/** Validates a spec once and fills in defaults, so mistakes fail at start, not at the first restart. */
export function resolveSpec(spec: PluginSpec): ResolvedSpec {
  const name = spec?.name;
  if (typeof name !== "string" || !NAME_RE.test(name)) throw new Error("launcher: spec.name must be 1-128 of [A-Za-z0-9._-]");
  if (typeof spec.command !== "string" || spec.command === "") fail(name, "command is required");
  const env = { ...(spec.env ?? {}) };
  for (const [key, value] of Object.entries(env)) {
    if (!ENV_NAME_RE.test(key) || typeof value !== "string") fail(name, `env ${JSON.stringify(key)} is not a valid variable`);
    if (LAUNCHER_SET.has(key)) fail(name, `env ${key} is set by the launcher`);
  }
  const inheritEnv = spec.inheritEnv ?? [];
  for (const key of inheritEnv) if (!ENV_NAME_RE.test(key)) fail(name, `inheritEnv ${JSON.stringify(key)} is not a variable name`);
  if (spec.port !== undefined && !(Number.isInteger(spec.port) && spec.port > 0 && spec.port < 65536)) fail(name, "port must be 1-65535");
  const policy = spec.restart?.policy ?? "on-failure";
  if (!["on-failure", "always", "never"].includes(policy)) fail(name, `restart.policy ${JSON.stringify(policy)} is unknown`);
  const restart = {
    policy,
    initialDelayMs: nonNegative(name, "restart.initialDelayMs", spec.restart?.initialDelayMs, 200),
    maxDelayMs: nonNegative(name, "restart.maxDelayMs", spec.restart?.maxDelayMs, 10_000),
    maxRestarts: nonNegative(name, "restart.maxRestarts", spec.restart?.maxRestarts, 5),
    windowMs: nonNegative(name, "restart.windowMs", spec.restart?.windowMs, 60_000),
    noRestartExitCodes: [...(spec.restart?.noRestartExitCodes ?? [2])],
  };
  if (!restart.noRestartExitCodes.every((c) => Number.isInteger(c) && c > 0 && c < 256))
    fail(name, "restart.noRestartExitCodes must hold exit codes 1-255");
  const startTimeoutMs = nonNegative(name, "startTimeoutMs", spec.startTimeoutMs, 10_000);
  if (startTimeoutMs === 0) fail(name, "startTimeoutMs must be positive");
  return {
    name,
    command: spec.command,
    args: [...(spec.args ?? [])],
    cwd: spec.cwd,
    env,
    inheritEnv: [...inheritEnv],
    port: spec.port,
    startTimeoutMs,
    registrations: spec.readiness?.registrations ? [...spec.readiness.registrations] : undefined,
    restart,
    stopGraceMs: nonNegative(name, "stopGraceMs", spec.stopGraceMs, 5_000),
    provides: [...(spec.provides ?? [])],
    requires: [...(spec.requires ?? [])],
    sandbox: resolveSandbox((message) => fail(name, message), spec.sandbox),
  };
}
