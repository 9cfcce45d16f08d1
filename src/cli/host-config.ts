import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse } from "yaml";
import { DEFAULT_LIMITS } from "../protocol/constants.js";
import type { RestartPolicy } from "../launcher/spec.js";
import type { SandboxSpec } from "../sandbox/index.js";
import type { DurableWritesOptions } from "../store/redis-durability.js";
import { validateRedisSource, type RedisSource } from "../store/redis-source-config.js";
import {
  ConfigError,
  obj,
  onlyKeys,
  optBool,
  optNum,
  optObj,
  optStr,
  optStrList,
  str,
  type Obj,
} from "./config-fields.js";

/** `plugboard host --config host.yaml`, validated. Paths are resolved against the file's folder. */
export interface HostConfig {
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
  plugins: PluginConfig[];
  /** Exit (non-zero) when a plugin fails for good or gives up restarting. Default false: report it, keep serving. */
  exitOnPluginFailure: boolean;
}

/** `store: redis://…`, `store: redis` (PLUGBOARD_REDIS_URL) or `store: { redis: { url | sentinels | cluster … } }`. */
export interface RedisStoreConfig {
  kind: "redis";
  source: RedisSource;
  reconnectMaxDelayMs?: number;
  durableWrites?: DurableWritesOptions | false;
}

export interface Budget {
  points: number;
  durationSec: number;
  burst?: number;
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

const TOP = [
  "listen", "tls", "magicCookie", "appProtocolVersions", "store", "tokens", "limits", "rateLimit",
  "identity", "rbac", "secrets", "allowedEndpointHosts", "requireLaunchSecret", "healthProbe", "plugins",
  "allowUnprovenNames", "reservedNames",
  "exitOnPluginFailure",
] as const;

const RESTART_POLICIES = ["on-failure", "always", "never"] as const;
const RESTART_NUMBERS = ["initialDelayMs", "maxDelayMs", "maxRestarts", "windowMs"] as const;

/** `restart: on-failure` or `restart: { policy, initialDelayMs, maxDelayMs, maxRestarts, windowMs }`. */
function restartPolicy(p: Obj, field: string): RestartPolicy | undefined {
  const value = p["restart"];
  if (value === undefined) return undefined;
  const isPolicy = (v: unknown): v is RestartPolicy["policy"] => RESTART_POLICIES.includes(v as RestartPolicy["policy"]);
  if (typeof value === "string") {
    if (!isPolicy(value)) throw new ConfigError(`${field}.restart`, "must be on-failure, always or never");
    return { policy: value };
  }
  const o = obj(value, `${field}.restart`);
  onlyKeys(o, ["policy", "noRestartExitCodes", ...RESTART_NUMBERS], `${field}.restart`);
  const policy = o["policy"] ?? "on-failure";
  if (!isPolicy(policy)) throw new ConfigError(`${field}.restart.policy`, "must be on-failure, always or never");
  const restart: RestartPolicy = { policy };
  for (const key of RESTART_NUMBERS) {
    const n = optNum(o, key, `${field}.restart`, { min: 0 });
    if (n !== undefined) restart[key] = n;
  }
  const codes = o["noRestartExitCodes"];
  if (codes !== undefined) {
    if (!Array.isArray(codes) || !codes.every((c) => Number.isInteger(c) && c > 0 && c < 256))
      throw new ConfigError(`${field}.restart.noRestartExitCodes`, "must be a list of exit codes 1-255");
    restart.noRestartExitCodes = codes as number[];
  }
  return restart;
}

function budget(value: Obj | undefined, field: string): Budget | undefined {
  if (!value) return undefined;
  onlyKeys(value, ["points", "durationSec", "burst"], field);
  const points = optNum(value, "points", field, { min: 1 });
  const durationSec = optNum(value, "durationSec", field, { min: 1 });
  if (points === undefined || durationSec === undefined) throw new ConfigError(field, "needs points and durationSec");
  const burst = optNum(value, "burst", field);
  return { points, durationSec, ...(burst === undefined ? {} : { burst }) };
}

/** Reads a value directly or from the environment variable named by `<key>Env`. */
function strOrEnv(parent: Obj, key: string, field: string, env: NodeJS.ProcessEnv): string {
  const fromEnv = optStr(parent, `${key}Env`, field);
  if (fromEnv !== undefined) {
    const value = env[fromEnv];
    if (!value) throw new ConfigError(`${field}.${key}Env`, `environment variable ${fromEnv} is not set`);
    return value;
  }
  return str(parent, key, field);
}

export function parseHostConfig(raw: unknown, baseDir: string, env: NodeJS.ProcessEnv = process.env): HostConfig {
  const root = obj(raw ?? {}, "(root)");
  onlyKeys(root, TOP, "");
  const path = (p: string) => resolve(baseDir, p);

  const listenObj = optObj(root, "listen", "") ?? {};
  onlyKeys(listenObj, ["hostname", "port"], "listen");
  const listen = { hostname: optStr(listenObj, "hostname", "listen") ?? "127.0.0.1", port: optNum(listenObj, "port", "listen") ?? 7777 };

  const tlsObj = root["tls"] === "auto" ? undefined : optObj(root, "tls", "");
  let tls: HostConfig["tls"] = root["tls"] === "auto" ? "auto" : undefined;
  if (tlsObj) {
    onlyKeys(tlsObj, ["cert", "key", "ca", "requestClientCert"], "tls");
    const ca = optStr(tlsObj, "ca", "tls");
    tls = {
      cert: path(str(tlsObj, "cert", "tls")),
      key: path(str(tlsObj, "key", "tls")),
      ...(ca ? { ca: path(ca) } : {}),
      requestClientCert: optBool(tlsObj, "requestClientCert", "tls") ?? false,
    };
    if (tls.requestClientCert && !tls.ca) throw new ConfigError("tls.ca", "required when requestClientCert is true");
  }

  const cookie = obj(root["magicCookie"], "magicCookie");
  onlyKeys(cookie, ["key", "value", "valueEnv"], "magicCookie");
  const magicCookie = { key: str(cookie, "key", "magicCookie"), value: strOrEnv(cookie, "value", "magicCookie", env) };

  const store = parseStore(root["store"] ?? "memory", env);

  const tokens = optObj(root, "tokens", "") ?? {};
  onlyKeys(tokens, ["runtimeTtlMs", "grantTtlMs"], "tokens");
  const runtimeTokenTtlMs = optNum(tokens, "runtimeTtlMs", "tokens", { min: 1000 });
  const grantTtlMs = optNum(tokens, "grantTtlMs", "tokens", { min: 1000 });

  const limitsObj = optObj(root, "limits", "") ?? {};
  onlyKeys(limitsObj, Object.keys(DEFAULT_LIMITS), "limits");
  const limits: HostConfig["limits"] = {};
  for (const key of Object.keys(limitsObj) as Array<keyof typeof DEFAULT_LIMITS>) limits[key] = optNum(limitsObj, key, "limits", { min: 1 })!;

  const rateObj = optObj(root, "rateLimit", "");
  let rateLimit: HostConfig["rateLimit"];
  if (rateObj) {
    onlyKeys(rateObj, ["perCaller", "perService"], "rateLimit");
    const perCaller = budget(optObj(rateObj, "perCaller", "rateLimit"), "rateLimit.perCaller");
    const perService = budget(optObj(rateObj, "perService", "rateLimit"), "rateLimit.perService");
    rateLimit = { ...(perCaller ? { perCaller } : {}), ...(perService ? { perService } : {}) };
  }

  const identityObj = optObj(root, "identity", "") ?? {};
  onlyKeys(identityObj, ["mtls", "jwt"], "identity");
  const identity: HostConfig["identity"] = {};
  const mtls = optObj(identityObj, "mtls", "identity");
  if (mtls) {
    onlyKeys(mtls, ["trustDomains", "allowCnFallback", "pluginPathPrefix"], "identity.mtls");
    if (tls === "auto") throw new ConfigError("identity.mtls", 'is built in with tls: auto; remove it');
    if (!tls?.requestClientCert) throw new ConfigError("identity.mtls", "needs tls.requestClientCert: true");
    const trustDomains = optStrList(mtls, "trustDomains", "identity.mtls");
    const allowCnFallback = optBool(mtls, "allowCnFallback", "identity.mtls");
    const pluginPathPrefix = optStr(mtls, "pluginPathPrefix", "identity.mtls");
    if (pluginPathPrefix !== undefined && !/^\/(.+\/)?$/.test(pluginPathPrefix))
      throw new ConfigError("identity.mtls.pluginPathPrefix", "must start and end with '/', e.g. /plugin/");
    identity.mtls = {
      ...(trustDomains ? { trustDomains } : {}),
      ...(allowCnFallback === undefined ? {} : { allowCnFallback }),
      ...(pluginPathPrefix === undefined ? {} : { pluginPathPrefix }),
    };
  }
  const jwt = optObj(identityObj, "jwt", "identity");
  if (jwt) {
    onlyKeys(jwt, ["jwksUrl", "issuer", "audience", "pluginNameClaim"], "identity.jwt");
    const pluginNameClaim = optStr(jwt, "pluginNameClaim", "identity.jwt");
    identity.jwt = {
      jwksUrl: str(jwt, "jwksUrl", "identity.jwt"),
      issuer: str(jwt, "issuer", "identity.jwt"),
      audience: str(jwt, "audience", "identity.jwt"),
      ...(pluginNameClaim === undefined ? {} : { pluginNameClaim }),
    };
  }

  const rbac = optStr(root, "rbac", "");
  const secrets = optObj(root, "secrets", "");
  if (secrets && typeof secrets["kind"] !== "string") throw new ConfigError("secrets.kind", "must be env, file, vault, aws or chain");

  const pluginsValue = root["plugins"] ?? [];
  if (!Array.isArray(pluginsValue)) throw new ConfigError("plugins", "must be a list");
  const plugins = pluginsValue.map((value, i): PluginConfig => {
    const field = `plugins[${i}]`;
    const p = obj(value, field);
    onlyKeys(p, ["name", "command", "args", "env", "inheritEnv", "provides", "requires", "restart", "sandbox"], field);
    const sandbox = optObj(p, "sandbox", field);
    const envObj = optObj(p, "env", field) ?? {};
    for (const [k, v] of Object.entries(envObj)) if (typeof v !== "string") throw new ConfigError(`${field}.env.${k}`, "must be a string");
    const restart = restartPolicy(p, field);
    return {
      name: str(p, "name", field),
      command: str(p, "command", field),
      args: optStrList(p, "args", field) ?? [],
      env: envObj as Record<string, string>,
      inheritEnv: optStrList(p, "inheritEnv", field) ?? [],
      provides: optStrList(p, "provides", field) ?? [],
      requires: optStrList(p, "requires", field) ?? [],
      ...(restart ? { restart } : {}),
      ...(sandbox ? { sandbox: sandboxWithPaths(sandbox, path) } : {}),
    };
  });

  const probeObj = optObj(root, "healthProbe", "");
  let healthProbe: HostConfig["healthProbe"];
  if (probeObj) {
    onlyKeys(probeObj, ["intervalMs", "timeoutMs", "staleAfterMs"], "healthProbe");
    healthProbe = {};
    for (const key of ["intervalMs", "timeoutMs", "staleAfterMs"] as const) {
      const value = optNum(probeObj, key, "healthProbe", { min: 10 });
      if (value !== undefined) healthProbe[key] = value;
    }
  }

  const appProtocolVersions = optStrList(root, "appProtocolVersions", "");
  return {
    listen,
    ...(tls ? { tls } : {}),
    magicCookie,
    ...(appProtocolVersions ? { appProtocolVersions } : {}),
    store,
    ...(runtimeTokenTtlMs === undefined ? {} : { runtimeTokenTtlMs }),
    ...(grantTtlMs === undefined ? {} : { grantTtlMs }),
    limits,
    ...(rateLimit ? { rateLimit } : {}),
    identity,
    ...(rbac ? { rbacFile: path(rbac) } : {}),
    ...(secrets ? { secrets } : {}),
    allowedEndpointHosts: optStrList(root, "allowedEndpointHosts", "") ?? [],
    requireLaunchSecret: optBool(root, "requireLaunchSecret", "") ?? false,
    allowUnprovenNames: optBool(root, "allowUnprovenNames", "") ?? false,
    reservedNames: optStrList(root, "reservedNames", "") ?? [],
    ...(healthProbe ? { healthProbe } : {}),
    plugins,
    exitOnPluginFailure: optBool(root, "exitOnPluginFailure", "") ?? false,
  };
}

export function loadHostConfig(file: string, env: NodeJS.ProcessEnv = process.env): HostConfig {
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new ConfigError("(file)", `cannot read ${file}: ${(error as Error).message}`);
  }
  return parseHostConfig(raw, dirname(resolve(file)), env);
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

function parseStore(value: unknown, env: NodeJS.ProcessEnv): HostConfig["store"] {
  if (typeof value === "string") {
    const url = value === "redis" ? env["PLUGBOARD_REDIS_URL"] ?? "" : value;
    if (url === "memory") return { kind: "memory" };
    if (/^rediss?:\/\//.test(url)) return { kind: "redis", source: url };
    throw new ConfigError("store", 'must be "memory", a redis:// URL, "redis" with PLUGBOARD_REDIS_URL set, or { redis: { … } }');
  }
  const o = obj(value, "store");
  onlyKeys(o, ["redis", "reconnectMaxDelayMs", "durableWrites"], "store");
  let source: RedisSource;
  try {
    source = validateRedisSource(o["redis"], "redis");
  } catch (e) {
    throw new ConfigError("store.redis", (e as Error).message.replace(/^redis\.?/, "").trim() || "invalid");
  }
  const reconnectMaxDelayMs = optNum(o, "reconnectMaxDelayMs", "store", { min: 1 });
  let durableWrites: DurableWritesOptions | false | undefined;
  if (o["durableWrites"] === false) durableWrites = false;
  else {
    const d = optObj(o, "durableWrites", "store");
    if (d) {
      onlyKeys(d, ["replicas", "timeoutMs", "replicaCheckMs", "recentLimit"], "store.durableWrites");
      const replicas = d["replicas"] === "auto" ? "auto" : optNum(d, "replicas", "store.durableWrites", { min: 0 });
      const timeoutMs = optNum(d, "timeoutMs", "store.durableWrites", { min: 0 });
      const replicaCheckMs = optNum(d, "replicaCheckMs", "store.durableWrites", { min: 0 });
      const recentLimit = optNum(d, "recentLimit", "store.durableWrites", { min: 0 });
      durableWrites = {
        ...(replicas !== undefined ? { replicas } : {}),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        ...(replicaCheckMs !== undefined ? { replicaCheckMs } : {}),
        ...(recentLimit !== undefined ? { recentLimit } : {}),
      };
    }
  }
  return {
    kind: "redis",
    source,
    ...(reconnectMaxDelayMs !== undefined ? { reconnectMaxDelayMs } : {}),
    ...(durableWrites !== undefined ? { durableWrites } : {}),
  };
}
