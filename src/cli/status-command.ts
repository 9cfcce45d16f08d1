import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AdminService, type ListRuntimesResponse } from "../../gen/plugboard/v1/admin_pb.js";
import { healthName } from "../protocol/health.js";
import { followPages } from "../paging/follow.js";

export interface StatusOptions {
  host: string;
  /** Admin bearer credential (JWT), read from an environment variable by the CLI. */
  bearer?: string;
  ca?: string;
  cert?: string;
  key?: string;
}

export async function fetchStatus(options: StatusOptions): Promise<ListRuntimesResponse> {
  const nodeOptions = {
    ...(options.ca ? { ca: readFileSync(options.ca) } : {}),
    ...(options.cert ? { cert: readFileSync(options.cert) } : {}),
    ...(options.key ? { key: readFileSync(options.key) } : {}),
  };
  const transport = createConnectTransport({ baseUrl: options.host, httpVersion: "2", nodeOptions });
  const client = createClient(AdminService, transport);
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
      const head = `${r.pluginName}@${r.pluginVersion}  ${r.runtimeId}  ${healthName(r.health)}`;
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
