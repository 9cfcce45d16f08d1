import { z } from "zod";
import { DEFAULT_LIMITS } from "../protocol/constants.js";

/**
 * The one description of `plugboard host --config` files: it validates them (unknown keys are errors,
 * everywhere), and docs/config.md and the editor JSON Schema (`plugboard config schema`) are generated
 * from it. Relative paths are resolved against the config file's folder after validation (host-config.ts).
 */

const text = () => z.string().min(1);
const ms = (min = 0) => z.number().int().min(min);
const names = () => z.array(text());
/** A file the host reads (relative to the config file's folder). */
const file = (what: string) => text().describe(`${what} (path; relative paths resolve against the config file's folder)`);

const budget = z
  .strictObject({
    points: z.number().int().min(1).describe("Calls allowed per window"),
    durationSec: z.number().int().min(1).describe("Window length in seconds"),
    burst: z.number().int().min(0).optional().describe("Extra calls allowed on top of `points` in a burst"),
  })
  .describe("A token-bucket budget");

const restartPolicyName = z.enum(["on-failure", "always", "never"]);
const restart = z
  .union([
    restartPolicyName,
    z.strictObject({
      policy: restartPolicyName.default("on-failure"),
      initialDelayMs: ms().optional().describe("First backoff delay, doubled per consecutive restart (default 200)"),
      maxDelayMs: ms().optional().describe("Backoff ceiling (default 10000)"),
      maxRestarts: ms().optional().describe("More restarts than this within windowMs → gave up (default 5)"),
      windowMs: ms().optional().describe("Default 60000"),
      noRestartExitCodes: z.array(z.number().int().min(1).max(255)).optional().describe("Exit codes that mean restarting will not help (default [2])"),
    }),
  ])
  .describe("A policy name, or the policy with its backoff settings");

const sandbox = z
  .strictObject({
    node: z
      .strictObject({
        fsRead: names().optional().describe("Paths the plugin may read"),
        fsWrite: names().optional().describe("Paths the plugin may write"),
        childProcess: z.boolean().optional(),
        worker: z.boolean().optional(),
        maxOldSpaceMb: z.number().int().min(1).optional(),
      })
      .optional()
      .describe("Node's permission model (NODE_OPTIONS)"),
    limits: z
      .strictObject({
        addressSpaceBytes: z.number().int().min(1).optional(),
        openFiles: z.number().int().min(1).optional(),
        cpuSeconds: z.number().int().min(1).optional(),
      })
      .optional()
      .describe("Kernel resource limits through prlimit"),
    memoryCeilingBytes: z.number().int().min(1).optional().describe("Resident memory of the plugin's process group; past it the plugin is killed"),
    memoryCheckIntervalMs: z.number().int().min(1).optional(),
    namespaces: z
      .union([z.boolean(), z.strictObject({ writable: names().optional() })])
      .optional()
      .describe("Linux namespaces through bubblewrap; `writable` paths stay writable"),
  })
  .describe("How the plugin is confined (docs/launcher.md, Sandboxing)");

const plugin = z.strictObject({
  name: text().describe("The plugin's name"),
  command: text().describe("Executable: a bare name is looked up on PATH (when PATH is inherited); a path with a / resolves against the config file's folder"),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).default({}).describe("Environment variables set for the plugin"),
  inheritEnv: names().default([]).describe("Host environment variables passed through (e.g. PATH); nothing else of the host's is"),
  provides: names().default([]).describe("Service types it provides, for start order"),
  requires: names().default([]).describe("Service types it needs, for start order"),
  restart: restart.optional(),
  sandbox: sandbox.optional(),
});

const cache = z.union([
  z.boolean(),
  z.strictObject({
    ttlMs: ms(1).optional().describe("How long a value is served before the backend is asked again (default 300000)"),
    maxEntries: z.number().int().min(1).optional().describe("Default 1024"),
    staleWindowMs: ms().optional().describe("How long a value may be served past its TTL while the backend is down (default 900000)"),
    errorBackoffMs: ms().optional().describe("After a failure the key is not retried for this long (default 2000)"),
  }),
]);
const providerCommon = { cache: cache.optional().describe("Cache (default on for vault and aws; false disables)") };

type SecretProviderInput =
  | { kind: "env"; prefix?: string }
  | { kind: "file"; path: string; maxBytes?: number }
  | { kind: "vault"; address: string; token?: string; tokenEnv?: string; namespace?: string; mount?: string; timeoutMs?: number; renewToken?: boolean; renewAt?: number }
  | { kind: "aws"; region: string; endpoint?: string; prefix?: string; timeoutMs?: number; maxAttempts?: number }
  | { kind: "chain"; providers: SecretProviderInput[] };

const watch = z
  .strictObject({
    refreshIntervalMs: ms(10).optional().describe("WatchSecrets refresh interval (default 30000)"),
    jitter: z.number().min(0).lt(1).optional().describe("Each wait is the interval ± this fraction (default 0.1)"),
  })
  .describe("How often WatchSecrets streams look for changes");

/** The provider kinds; the top-level one also takes `watch`, a chain's members do not. */
const providerKinds = (top: boolean) => {
  const common = { ...providerCommon, ...(top ? { watch: watch.optional() } : {}) };
  return z.discriminatedUnion("kind", [
    z.strictObject({ kind: z.literal("env"), prefix: z.string().optional().describe("Prepended to every mapped name (default PB_SECRET_)"), ...common }),
    z.strictObject({ kind: z.literal("file"), path: file("A directory with one file per secret, or one JSON/YAML document"), maxBytes: z.number().int().min(1).optional(), ...common }),
    z.strictObject({
      kind: z.literal("vault"),
      address: text().describe("e.g. https://vault.internal:8200"),
      token: text().optional().describe("Prefer tokenEnv: a token in a file is a token at rest"),
      tokenEnv: text().optional().describe("Environment variable holding the Vault token"),
      namespace: text().optional(),
      mount: text().optional().describe("KV v2 mount (default secret)"),
      timeoutMs: ms(1).optional(),
      renewToken: z.boolean().optional(),
      renewAt: z.number().gt(0).lt(1).optional(),
      ...common,
    }),
    z.strictObject({
      kind: z.literal("aws"),
      region: text(),
      endpoint: text().optional(),
      prefix: z.string().optional(),
      timeoutMs: ms(1).optional(),
      maxAttempts: z.number().int().min(1).optional(),
      ...common,
    }),
    z.strictObject({ kind: z.literal("chain"), providers: z.array(chainMember).min(1).describe("Asked in order; the first that has the name answers"), ...common }),
  ]);
};
const chainMember: z.ZodType<SecretProviderInput> = z.lazy(() => providerKinds(false)) as z.ZodType<SecretProviderInput>;
const secrets = providerKinds(true).describe("Where plugins' secrets come from: kind env, file, vault, aws or chain");

const limits = z.strictObject(
  Object.fromEntries(
    Object.entries(DEFAULT_LIMITS).map(([key, value]) => [key, z.number().int().min(1).optional().describe(`Default ${value}`)]),
  ) as Record<keyof typeof DEFAULT_LIMITS, z.ZodOptional<z.ZodNumber>>,
);

export const hostConfigSchema = z
  .strictObject({
    listen: z
      .strictObject({
        hostname: text().default("127.0.0.1").describe("Address to bind (off loopback, configure tls)"),
        port: z.number().int().min(0).max(65535).default(7777).describe("0 picks a free port"),
      })
      .default({ hostname: "127.0.0.1", port: 7777 })
      .describe("Where the host serves its API and routed calls (HTTP/2)"),
    tls: z
      .union([
        z.literal("auto").describe("AutoMTLS: a throwaway CA, certificates for the host and every plugin it launches"),
        z.strictObject({
        cert: file("Server certificate chain (PEM)"),
        key: file("Server private key (PEM)"),
        ca: file("CA bundle (PEM) client certificates are verified against").optional(),
          requestClientCert: z.boolean().default(false).describe("Ask for client certificates (mTLS); needs ca"),
        }),
      ])
      .optional()
      .describe('TLS for the host\'s listener: "auto" (AutoMTLS) or certificate files'),
    magicCookie: z
      .strictObject({
        key: text().describe("Environment variable name plugins are launched with"),
        value: text().optional().describe("Its value (or valueEnv)"),
        valueEnv: text().optional().describe("Environment variable holding the value"),
      })
      .describe("The handshake cookie: a plugin must present it (not a secret; a guard against launching the wrong binary)"),
    appProtocolVersions: names().optional().describe("Application protocol versions this host speaks"),
    store: z
      .union([
        z.string().describe('"memory", a redis:// or rediss:// URL, or "redis" to read PLUGBOARD_REDIS_URL'),
        z.strictObject({
          redis: z.unknown().describe("A redis:// URL, or { url } | { sentinels, name } | { cluster } (docs/redis-store.md)"),
          reconnectMaxDelayMs: z.number().int().min(1).optional().describe("Cap on the reconnect backoff"),
          durableWrites: z
            .union([
              z.literal(false),
              z.strictObject({
                replicas: z.union([z.literal("auto"), z.number().int().min(0)]).optional().describe("Replicas a security write waits for (auto: all connected)"),
                timeoutMs: ms().optional(),
                replicaCheckMs: ms().optional(),
                recentLimit: ms().optional(),
              }),
            ])
            .optional()
            .describe("Replica-confirmed security writes (false: off)"),
          readCache: z
            .union([
              z.literal(false),
              z.strictObject({
                maxEntries: z.number().int().min(1).optional().describe("Entries per kind (credentials, runtimes, service lists)"),
                maxAgeMs: ms(1).optional().describe("Re-read an entry this old even without an event"),
              }),
            ])
            .optional()
            .describe("Local cache of what routed calls read, kept true by store events (false: off; docs/redis-store.md)"),
          feedSilenceMs: ms(1).optional().describe("How long the event feed may be silent before the read cache is distrusted"),
        }),
      ])
      .default("memory")
      .describe('Where state lives: "memory", a Redis URL, "redis" (PLUGBOARD_REDIS_URL), or { redis: … } for Sentinel or Cluster'),
    tokens: z
      .strictObject({
        runtimeTtlMs: ms(1000).optional().describe("Runtime token lifetime"),
        grantTtlMs: ms(1000).optional().describe("Capability grant lifetime"),
      })
      .optional()
      .describe("Credential lifetimes"),
    limits: limits.default({}).describe("Size and count limits (docs/security.md has the table)"),
    rateLimit: z
      .strictObject({ perCaller: budget.optional(), perService: budget.optional() })
      .optional()
      .describe("Routed-call budgets (reloadable)"),
    identity: z
      .strictObject({
        mtls: z
          .strictObject({
            trustDomains: names().optional().describe("SPIFFE trust domains accepted"),
            allowCnFallback: z.boolean().optional().describe("Accept a certificate's CN when it has no SPIFFE ID"),
            pluginPathPrefix: z
              .string()
              .regex(/^\/(.+\/)?$/, "must start and end with '/', e.g. /plugin/")
              .optional()
              .describe('Where plugin names sit in SPIFFE IDs (default "/plugin/": spiffe://<td>/plugin/<name>)'),
          })
          .optional()
          .describe("Client certificates prove callers (needs tls.requestClientCert)"),
        jwt: z
          .strictObject({
            jwksUrl: text(),
            issuer: text(),
            audience: text(),
            pluginNameClaim: text().optional().describe("The claim naming the plugin a JWT proves (unset: JWTs prove no plugin name)"),
          })
          .optional()
          .describe("Bearer JWTs prove callers"),
      })
      .default({})
      .describe("How callers other than launched plugins prove who they are"),
    rbac: file("RBAC rules file (YAML or JSON; reloadable)").optional(),
    secrets: secrets.optional(),
    allowedEndpointHosts: names().default([]).describe("Hosts plugins may register endpoints on besides loopback"),
    requireLaunchSecret: z.boolean().default(false).describe("Only plugins the host launched may handshake"),
    allowUnprovenNames: z.boolean().default(false).describe("Development only: admit plugins that prove no name (marked unproven)"),
    reservedNames: names().default([]).describe("Plugin names no plugin may claim without proof"),
    healthProbe: z
      .strictObject({ intervalMs: ms(10).optional(), timeoutMs: ms(10).optional(), staleAfterMs: ms(10).optional() })
      .optional()
      .describe("The host probes providers' gRPC health"),
    registrationLeaseMs: ms()
      .optional()
      .describe("Registrations are leases this long, renewed by their runtime's heartbeat; 0 turns leases off (default 10000)"),
    sweepIntervalMs: ms(1).optional().describe("How often expired runtimes, leases and credentials are swept (default 10000)"),
    outlierEjection: z
      .union([
        z.literal(false),
        z.strictObject({
          consecutiveFailures: z.number().int().min(1).optional().describe("Failures in a row that eject a provider (default 5)"),
          baseEjectionMs: ms(1).optional().describe("First ejection's length; the n-th lasts n × this (default 30000)"),
          maxEjectionMs: ms(1).optional().describe("Longest ejection (default 300000)"),
          maxEjectedPercent: z.number().int().min(1).max(100).optional().describe("Most of a service's providers out of rotation at once; one always stays (default 50)"),
          hardFailureHoldMs: ms(1).optional().describe("Out of rotation after a connect error or reset, before a trial call (default 1000)"),
        }),
      ])
      .optional()
      .describe("Passive outlier ejection of failing providers (on by default; false turns it off; docs/router.md)"),
    plugins: z.array(plugin).default([]).describe("Plugins the host launches and supervises (reloadable: added ones start, removed ones stop)"),
    ops: z
      .strictObject({
        port: z.number().int().min(0).max(65535).default(0).describe("0 picks a free port"),
        hostname: text().default("127.0.0.1").describe("Off loopback the ops endpoints require an admin credential"),
        recentAuditEvents: z.number().int().min(1).optional().describe("Audit events the dashboard keeps in memory"),
        maxEventStreams: z.number().int().min(1).optional().describe("Dashboard live streams served at once"),
      })
      .optional()
      .describe("The HTTP/1.1 ops listener: /metrics, /healthz, /readyz and the dashboard (docs/operations.md)"),
    adminCredentials: z
      .union([text(), z.literal(false)], { error: "must be a file path or false" })
      .optional()
      .describe("Where the admin credential for plugboard status is written (false: not written; default: the documented place)"),
    exitOnPluginFailure: z.boolean().default(false).describe("Exit non-zero when a plugin fails for good; default: report it and keep serving"),
  })
  .describe("plugboard host configuration");

export type HostConfigInput = z.input<typeof hostConfigSchema>;
export type HostConfigParsed = z.output<typeof hostConfigSchema>;
