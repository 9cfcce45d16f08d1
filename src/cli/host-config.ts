import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse } from "yaml";
import { DEFAULT_LIMITS } from "../protocol/constants.js";
import type { OutlierEjectionOptions } from "../router/outlier-ejection.js";
import type { RestartPolicy } from "../launcher/spec.js";
import type { SandboxSpec } from "../sandbox/index.js";
import type { DurableWritesOptions } from "../store/redis-durability.js";
import type { CachedReadsOptions } from "../store/cached-reads.js";
import { validateRedisSource, type RedisSource } from "../store/redis-source-config.js";
import { ConfigError, type Obj } from "./config-fields.js";
import { configProblems, knownKeysIn } from "./config-issues.js";
import { hostConfigSchema, type HostConfigParsed } from "./host-config-schema.js";
import type { OpsConfig } from "./ops-config.js";

/** `plugboard host --config host.yaml`, validated. Paths are resolved against the file's folder. */
export interface HostConfig extends OpsConfig {
  listen: { hostname: string; port: number };
  /** "auto": AutoMTLS (a throwaway CA, certificates for the host and every plugin it launches). */
  tls?: "auto" | { cert: string; key: string; ca?: string; requestClientCert: boolean };
  magicCookie: { key: string; value: string };
  appProtocolVersions?: string[];
  store: { kind: "memory" } | RedisStoreConfig;
  runtimeTokenTtlMs?: number;
  grantTtlMs?: number;
  limits: Partial<Record<keyof typeof DEFAULT_LIMITS, number>>;
  rateLimit?: { perCaller?: Budget; perService?: Budget };
  identity: {
    /** pluginPathPrefix: where plugin names sit in SPIFFE IDs (default "/plugin/": spiffe://<td>/plugin/<name>). */
    mtls?: { trustDomains?: string[]; allowCnFallback?: boolean; pluginPathPrefix?: string };
    /** pluginNameClaim: the claim naming the plugin a JWT proves (unset: JWTs prove no plugin name). */
    jwt?: { jwksUrl: string; issuer: string; audience: string; pluginNameClaim?: string };
  };
  rbacFile?: string;
  secrets?: Obj;
  allowedEndpointHosts: string[];
  requireLaunchSecret: boolean;
  /** Development only: admit plugins that prove no name (marked unproven). */
  allowUnprovenNames: boolean;
  reservedNames: string[];
  healthProbe?: { intervalMs?: number; timeoutMs?: number; staleAfterMs?: number };
  /** Registration lease length (0: leases off); unset: the host's default. */
  registrationLeaseMs?: number;
  sweepIntervalMs?: number;
  outlierEjection?: OutlierEjectionOptions | false;
  plugins: PluginConfig[];
  /** Exit (non-zero) when a plugin fails for good or gives up restarting. Default false: report it, keep serving. */
  exitOnPluginFailure: boolean;
}

export interface Budget {
  points: number;
  durationSec: number;
  burst?: number;
}

/** `store: redis://…`, `store: redis` (PLUGBOARD_REDIS_URL) or `store: { redis: { url | sentinels | cluster … } }`. */
export interface RedisStoreConfig {
  kind: "redis";
  source: RedisSource;
  reconnectMaxDelayMs?: number;
  durableWrites?: DurableWritesOptions | false;
  readCache?: CachedReadsOptions | false;
  feedSilenceMs?: number;
}

export interface PluginConfig {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  /** Host environment variables passed through (e.g. PATH); nothing else of the host's is. */
  inheritEnv: string[];
  /** Service types, for start order. */
  provides: string[];
  requires: string[];
  restart?: RestartPolicy;
  /** The launcher's sandbox spec, paths resolved against the config file's folder (checked by the launcher at start). */
  sandbox?: SandboxSpec;
}

/** Validates a parsed config document against the schema, then resolves paths, environment values and cross-key rules. */
export function parseHostConfig(raw: unknown, baseDir: string, env: NodeJS.ProcessEnv = process.env, file?: string): HostConfig {
  const result = hostConfigSchema.safeParse(raw ?? {});
  if (!result.success) throw ConfigError.of(configProblems(result.error.issues, knownKeysIn(hostConfigSchema, raw)), file);
  try {
    return resolveHostConfig(result.data, baseDir, env);
  } catch (error) {
    throw error instanceof ConfigError && file ? error.inFile(file) : error;
  }
}

function resolveHostConfig(c: HostConfigParsed, baseDir: string, env: NodeJS.ProcessEnv): HostConfig {
  const path = (p: string) => resolve(baseDir, p);

  let tls: HostConfig["tls"] = c.tls === "auto" ? "auto" : undefined;
  if (c.tls && c.tls !== "auto") {
    tls = {
      cert: path(c.tls.cert),
      key: path(c.tls.key),
      ...(c.tls.ca ? { ca: path(c.tls.ca) } : {}),
      requestClientCert: c.tls.requestClientCert,
    };
    if (tls.requestClientCert && !tls.ca) throw new ConfigError("tls.ca", "required when requestClientCert is true");
  }

  const cookie = c.magicCookie;
  if ((cookie.value === undefined) === (cookie.valueEnv === undefined)) throw new ConfigError("magicCookie", "needs exactly one of value and valueEnv");
  const magicCookie = { key: cookie.key, value: cookie.value ?? fromEnv(env, cookie.valueEnv!, "magicCookie.valueEnv") };

  const store = storeOf(c.store, env);

  const identity: HostConfig["identity"] = {};
  if (c.identity.mtls) {
    if (tls === "auto") throw new ConfigError("identity.mtls", "is built in with tls: auto; remove it");
    if (!tls?.requestClientCert) throw new ConfigError("identity.mtls", "needs tls.requestClientCert: true");
    identity.mtls = withoutUndefined(c.identity.mtls);
  }
  if (c.identity.jwt) identity.jwt = withoutUndefined(c.identity.jwt);

  const plugins = c.plugins.map((p): PluginConfig => {
    const restart: RestartPolicy | undefined = typeof p.restart === "string" ? { policy: p.restart } : p.restart && withoutUndefined(p.restart);
    return {
      name: p.name,
      // `./bin/kv` is the config folder's; a bare name is looked up on PATH.
      command: p.command.includes("/") ? path(p.command) : p.command,
      args: p.args,
      env: p.env,
      inheritEnv: p.inheritEnv,
      provides: p.provides,
      requires: p.requires,
      ...(restart ? { restart } : {}),
      ...(p.sandbox ? { sandbox: sandboxWithPaths(p.sandbox as Obj, path) } : {}),
    };
  });
  const duplicate = plugins.find((p, i) => plugins.findIndex((q) => q.name === p.name) !== i);
  if (duplicate) throw new ConfigError("plugins", `two plugins are named ${duplicate.name}`);

  return {
    listen: c.listen,
    ...(tls ? { tls } : {}),
    magicCookie,
    ...(c.appProtocolVersions ? { appProtocolVersions: c.appProtocolVersions } : {}),
    store,
    ...(c.tokens?.runtimeTtlMs === undefined ? {} : { runtimeTokenTtlMs: c.tokens.runtimeTtlMs }),
    ...(c.tokens?.grantTtlMs === undefined ? {} : { grantTtlMs: c.tokens.grantTtlMs }),
    limits: withoutUndefined(c.limits),
    ...(c.rateLimit ? { rateLimit: withoutUndefined(c.rateLimit) as NonNullable<HostConfig["rateLimit"]> } : {}),
    identity,
    ...(c.rbac ? { rbacFile: path(c.rbac) } : {}),
    ...(c.secrets ? { secrets: secretsWithPaths(c.secrets as Obj, path, env, "secrets") } : {}),
    allowedEndpointHosts: c.allowedEndpointHosts,
    requireLaunchSecret: c.requireLaunchSecret,
    allowUnprovenNames: c.allowUnprovenNames,
    reservedNames: c.reservedNames,
    ...(c.healthProbe ? { healthProbe: withoutUndefined(c.healthProbe) } : {}),
    ...(c.registrationLeaseMs === undefined ? {} : { registrationLeaseMs: c.registrationLeaseMs }),
    ...(c.sweepIntervalMs === undefined ? {} : { sweepIntervalMs: c.sweepIntervalMs }),
    ...(c.outlierEjection === undefined ? {} : { outlierEjection: c.outlierEjection === false ? false : withoutUndefined(c.outlierEjection) }),
    plugins,
    ...(c.ops ? { ops: withoutUndefined(c.ops) } : {}),
    ...(c.adminCredentials === undefined ? {} : { adminCredentials: c.adminCredentials === false ? false : path(c.adminCredentials) }),
    exitOnPluginFailure: c.exitOnPluginFailure,
  };
}

function storeOf(value: HostConfigParsed["store"], env: NodeJS.ProcessEnv): HostConfig["store"] {
  if (typeof value === "string") {
    const url = value === "redis" ? env["PLUGBOARD_REDIS_URL"] ?? "" : value;
    if (url === "memory") return { kind: "memory" };
    if (/^rediss?:\/\//.test(url)) return { kind: "redis", source: url };
    throw new ConfigError("store", 'must be "memory", a redis:// URL, "redis" with PLUGBOARD_REDIS_URL set, or { redis: { … } }');
  }
  let source: RedisSource;
  try {
    source = validateRedisSource(value.redis, "redis");
  } catch (e) {
    throw new ConfigError("store.redis", (e as Error).message.replace(/^redis\.?/, "").trim() || "invalid");
  }
  return {
    kind: "redis",
    source,
    ...(value.reconnectMaxDelayMs !== undefined ? { reconnectMaxDelayMs: value.reconnectMaxDelayMs } : {}),
    ...(value.durableWrites !== undefined ? { durableWrites: value.durableWrites === false ? false : withoutUndefined(value.durableWrites) } : {}),
    ...(value.readCache !== undefined ? { readCache: value.readCache === false ? false : withoutUndefined(value.readCache) } : {}),
    ...(value.feedSilenceMs !== undefined ? { feedSilenceMs: value.feedSilenceMs } : {}),
  };
}

/** Reads and validates a config file; every problem names the file, the key path and what was expected. */
export function loadHostConfig(file: string, env: NodeJS.ProcessEnv = process.env): HostConfig {
  const absolute = resolve(file);
  let raw: unknown;
  try {
    raw = parse(readFileSync(absolute, "utf8"));
  } catch (error) {
    throw new ConfigError("(file)", fileProblem(error), absolute);
  }
  const config = parseHostConfig(raw, dirname(absolute), env, absolute);
  try {
    checkFiles(config);
  } catch (error) {
    throw error instanceof ConfigError ? error.inFile(absolute) : error;
  }
  return config;
}

/** The files a config names exist and hold what they should, so a mistake names its key, not a bare ENOENT later. */
function checkFiles(config: HostConfig): void {
  if (config.tls && config.tls !== "auto") {
    pemFile(config.tls.cert, "tls.cert", "CERTIFICATE");
    pemFile(config.tls.key, "tls.key", "PRIVATE KEY");
    if (config.tls.ca) pemFile(config.tls.ca, "tls.ca", "CERTIFICATE");
  }
  if (config.rbacFile) readableFile(config.rbacFile, "rbac");
}

/** The sandbox spec as written, with its relative paths resolved like every other path in the file. */
function sandboxWithPaths(sandbox: Obj, path: (p: string) => string): SandboxSpec {
  const paths = (list: unknown) => (Array.isArray(list) ? list.map((p) => (typeof p === "string" ? path(p) : p)) : list);
  const node = sandbox["node"] as Obj | undefined;
  const namespaces = sandbox["namespaces"];
  return {
    ...sandbox,
    ...(node && typeof node === "object" ? { node: { ...node, fsRead: paths(node["fsRead"]), fsWrite: paths(node["fsWrite"]) } } : {}),
    ...(namespaces && typeof namespaces === "object" ? { namespaces: { ...(namespaces as Obj), writable: paths((namespaces as Obj)["writable"]) } } : {}),
  } as SandboxSpec;
}

/** The secrets provider config with file paths resolved and `tokenEnv` read. */
function secretsWithPaths(secrets: Obj, path: (p: string) => string, env: NodeJS.ProcessEnv, field: string): Obj {
  const out: Obj = { ...secrets };
  if (secrets["kind"] === "file") out["path"] = path(secrets["path"] as string);
  if (typeof secrets["tokenEnv"] === "string") {
    out["token"] = fromEnv(env, secrets["tokenEnv"], `${field}.tokenEnv`);
    delete out["tokenEnv"];
  }
  if (secrets["kind"] === "vault" && out["token"] === undefined) throw new ConfigError(field, "vault needs token or tokenEnv");
  if (Array.isArray(secrets["providers"]))
    out["providers"] = secrets["providers"].map((member, i) => secretsWithPaths(member as Obj, path, env, `${field}.providers[${i}]`));
  return out;
}

function fromEnv(env: NodeJS.ProcessEnv, name: string, field: string): string {
  const value = env[name];
  if (!value) throw new ConfigError(field, `environment variable ${name} is not set`);
  return value;
}

/** A file the config names must exist and be readable now, not fail later with a bare ENOENT. */
function readableFile(file: string, field: string): void {
  try {
    readFileSync(file);
  } catch (error) {
    throw new ConfigError(field, `${fileProblem(error)} (${file})`);
  }
}

/** A PEM file must hold the expected block: otherwise TLS later fails with "PEM routines::no start line". */
function pemFile(file: string, field: string, block: "CERTIFICATE" | "PRIVATE KEY"): void {
  let content: string;
  try {
    content = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(field, `${fileProblem(error)} (${file})`);
  }
  if (!new RegExp(`-----BEGIN [A-Z ]*${block}-----`).test(content))
    throw new ConfigError(field, `expected a PEM ${block.toLowerCase()} ("-----BEGIN …${block}-----") in ${file}`);
}

function fileProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "file not found";
  if (code === "EISDIR") return "is a directory, expected a file";
  if (code === "EACCES") return "permission denied";
  return `cannot read it: ${(error as Error).message}`;
}

function withoutUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}
