import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { toJson } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  AdminService,
  LaunchState,
  NameProof,
  ListPluginsResponseSchema,
  ListRuntimesResponseSchema,
  type LaunchedPlugin,
  type ListRuntimesResponse,
  type RuntimeInfo,
} from "../../gen/plugboard/v1/admin_pb.js";
import { healthName } from "../protocol/health.js";
import { followPages } from "../paging/follow.js";
import { defaultAdminCredentialsPath, readAdminCredentials } from "../ops/credentials-file.js";

/** How the CLI reaches a host's AdminService: URL, TLS files, and an admin credential. */
export interface AdminConnection {
  host: string;
  /** Admin bearer credential (the host's admin credential or an admin JWT). */
  bearer?: string;
  ca?: string;
  cert?: string;
  key?: string;
}
export type StatusOptions = AdminConnection;

export function adminTransport(options: AdminConnection) {
  const nodeOptions = {
    ...(options.ca ? { ca: readFileSync(options.ca) } : {}),
    ...(options.cert ? { cert: readFileSync(options.cert) } : {}),
    ...(options.key ? { key: readFileSync(options.key) } : {}),
  };
  return createConnectTransport({ baseUrl: options.host, httpVersion: "2", nodeOptions });
}

function adminClient(options: AdminConnection) {
  const callOptions = options.bearer ? { headers: { authorization: `Bearer ${options.bearer}` } } : {};
  return { client: createClient(AdminService, adminTransport(options)), callOptions };
}

export async function fetchStatus(options: StatusOptions): Promise<ListRuntimesResponse> {
  const { client, callOptions } = adminClient(options);
  // The host pages the list; the command shows all of it.
  const pages = await followPages((pageToken) => client.listRuntimes({ pageToken }, callOptions));
  const [first] = pages as [ListRuntimesResponse, ...ListRuntimesResponse[]];
  return { ...first, runtimes: pages.flatMap((p) => p.runtimes), nextPageToken: "" };
}

/** The host's launched plugin processes; empty from a host without Admin.ListPlugins. */
export async function fetchLaunchedPlugins(options: StatusOptions): Promise<LaunchedPlugin[]> {
  const { client, callOptions } = adminClient(options);
  try {
    return (await client.listPlugins({}, callOptions)).plugins;
  } catch (e) {
    if (ConnectError.from(e).code === Code.Unimplemented) return [];
    throw e;
  }
}

const STATE_NAMES: Record<LaunchState, string> = {
  [LaunchState.UNSPECIFIED]: "unknown",
  [LaunchState.STARTING]: "starting",
  [LaunchState.RUNNING]: "running",
  [LaunchState.BACKING_OFF]: "backing off",
  [LaunchState.STOPPED]: "stopped",
  [LaunchState.FAILED]: "failed",
  [LaunchState.GAVE_UP]: "gave up",
};

/** How the name was proven ("launch_secret", "mtls", "jwt", "enrolment", "unproven"); "unspecified" from older hosts. */
function proofOf(r: RuntimeInfo): string {
  return NameProof[r.nameProof]?.toLowerCase() ?? "unspecified";
}

function launchedPart(p: LaunchedPlugin): string {
  return `${STATE_NAMES[p.state]}  pid ${p.pid > 0 ? p.pid : "-"}  restarts ${p.restarts}`;
}

/** One line per runtime (`name@version  runtime  health`), launched-process facts after it, then its registrations. */
export function formatStatus(status: ListRuntimesResponse, plugins: readonly LaunchedPlugin[] = []): string {
  const byRuntime = new Map(plugins.filter((p) => p.runtimeId).map((p) => [p.runtimeId, p]));
  const lines: string[] = [];
  for (const r of status.runtimes) {
    const health = healthName(r.health) + (r.healthMessage ? ` (${r.healthMessage})` : "");
    const proof = proofOf(r);
    const launched = byRuntime.get(r.runtimeId);
    const parts = [`${r.pluginName}@${r.pluginVersion}`, r.runtimeId, health];
    parts.push(proof === "unproven" ? "name UNPROVEN" : `name proven by ${proof}`);
    parts.push(launched ? launchedPart(launched) : "not launched by this host");
    lines.push(parts.join("  "));
    for (const g of r.registrations) lines.push(`    provides ${g.serviceType}@${g.version} at ${g.endpoint}`);
  }
  const listed = new Set(status.runtimes.map((r) => r.runtimeId));
  // Launched plugins with no live runtime: starting, backing off, failed, gave up, stopped.
  for (const p of plugins) if (!p.runtimeId || !listed.has(p.runtimeId)) lines.push(`${p.name}  (no runtime)  ${launchedPart(p)}`);
  return lines.length === 0 ? "no plugin runtimes" : lines.join("\n");
}

/** Proto JSON (the canonical mapping): `{ "plugins": [LaunchedPlugin…], "runtimes": [RuntimeInfo…] }`. */
export function statusJson(status: ListRuntimesResponse, plugins: LaunchedPlugin[]): string {
  const opts = { alwaysEmitImplicit: true } as const;
  const runtimes = toJson(ListRuntimesResponseSchema, { ...status, nextPageToken: "" }, opts) as { runtimes: unknown[] };
  const launched = toJson(ListPluginsResponseSchema, { $typeName: "plugboard.v1.ListPluginsResponse", plugins }, opts) as { plugins: unknown[] };
  return JSON.stringify({ plugins: launched.plugins, runtimes: runtimes.runtimes }, null, 2);
}

interface StatusCliOptions {
  host?: string;
  ca?: string;
  cert?: string;
  key?: string;
  tokenEnv: string;
  credentials?: string;
  json?: boolean;
}

/** Where to connect and with what: flags and the token variable first, then the host's credentials file. */
export function resolveStatusOptions(opts: StatusCliOptions, env: NodeJS.ProcessEnv = process.env): StatusOptions {
  const file = opts.credentials ?? defaultAdminCredentialsPath(env);
  const fromEnv = env[opts.tokenEnv] || undefined;
  const tls = { ...(opts.cert ? { cert: opts.cert } : {}), ...(opts.key ? { key: opts.key } : {}) };
  if (opts.host) {
    // The file's credential is sent only to the host that wrote it.
    let bearer = fromEnv;
    if (!bearer && !opts.cert) {
      try {
        const saved = readAdminCredentials(file);
        if (saved.url === opts.host) bearer = saved.token;
      } catch {
        // no file: the caller uses a certificate or nothing
      }
    }
    return { host: opts.host, ...tls, ...(opts.ca ? { ca: opts.ca } : {}), ...(bearer ? { bearer } : {}) };
  }
  const saved = readAdminCredentials(file);
  const ca = opts.ca ?? saved.ca;
  return { host: saved.url, bearer: fromEnv ?? saved.token, ...tls, ...(ca ? { ca } : {}) };
}

export function registerStatusCommand(program: Command): Command {
  return program
    .command("status")
    .description("list launched plugins and runtimes: state, pid, restarts, health, how names were proven, registrations")
    .option("--host <url>", "host URL, e.g. https://127.0.0.1:7777 (default: the one in the credentials file)")
    .option("--credentials <file>", "admin credentials file plugboard host wrote (default $XDG_RUNTIME_DIR/plugboard/admin.json or ~/.plugboard/admin.json)")
    .option("--ca <file>", "CA certificate of the host")
    .option("--cert <file>", "client certificate (mTLS admin identity)")
    .option("--key <file>", "client key")
    .option("--token-env <name>", "environment variable holding an admin JWT or admin credential", "PLUGBOARD_ADMIN_TOKEN")
    .option("--json", "print proto JSON: { plugins: [LaunchedPlugin], runtimes: [RuntimeInfo] }")
    .action(async (opts: StatusCliOptions) => {
      const options = resolveStatusOptions(opts);
      const [status, plugins] = await Promise.all([fetchStatus(options), fetchLaunchedPlugins(options)]);
      console.log(opts.json ? statusJson(status, plugins) : formatStatus(status, plugins));
    });
}
