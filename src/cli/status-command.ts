import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AdminService, NameProof, type ListRuntimesResponse } from "../../gen/plugboard/v1/admin_pb.js";
import { healthName } from "../protocol/health.js";
import { followPages } from "../paging/follow.js";

/** How the CLI reaches a host's AdminService: URL, TLS files, and an admin credential. */
export interface AdminConnection {
  host: string;
  /** Admin bearer credential (JWT), read from an environment variable by the CLI. */
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

export async function fetchStatus(options: StatusOptions): Promise<ListRuntimesResponse> {
  const client = createClient(AdminService, adminTransport(options));
  const callOptions = options.bearer ? { headers: { authorization: `Bearer ${options.bearer}` } } : {};
  // The host pages the list; the command shows all of it.
  const pages = await followPages((pageToken) => client.listRuntimes({ pageToken }, callOptions));
  const [first] = pages as [ListRuntimesResponse, ...ListRuntimesResponse[]];
  return { ...first, runtimes: pages.flatMap((p) => p.runtimes), nextPageToken: "" };
}

export function formatStatus(status: ListRuntimesResponse): string {
  if (status.runtimes.length === 0) return "no plugin runtimes";
  return status.runtimes
    .map((r) => {
      const proof = NameProof[r.nameProof]?.toLowerCase() ?? "unspecified";
      const head = `${r.pluginName}@${r.pluginVersion}  ${r.runtimeId}  ${healthName(r.health)}  name ${proof === "unproven" ? "UNPROVEN" : `proven by ${proof}`}`;
      const regs = r.registrations.map((g) => `    provides ${g.serviceType}@${g.version} at ${g.endpoint}`);
      return [head, ...regs].join("\n");
    })
    .join("\n");
}

export function registerStatusCommand(program: Command): Command {
  return program
    .command("status")
    .description("list runtimes, registrations and health (needs an admin identity: mTLS certificate or JWT)")
    .requiredOption("--host <url>", "host URL, e.g. https://127.0.0.1:7777")
    .option("--ca <file>", "CA certificate of the host")
    .option("--cert <file>", "client certificate (mTLS admin identity)")
    .option("--key <file>", "client key")
    .option("--token-env <name>", "environment variable holding an admin JWT", "PLUGBOARD_ADMIN_TOKEN")
    .option("--json", "print JSON")
    .action(async (opts: { host: string; ca?: string; cert?: string; key?: string; tokenEnv: string; json?: boolean }) => {
      const bearer = process.env[opts.tokenEnv];
      const status = await fetchStatus({ ...opts, ...(bearer ? { bearer } : {}) });
      console.log(opts.json ? JSON.stringify(status, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v), 2) : formatStatus(status));
    });
}
