import type { Command } from "commander";
import { createClient } from "@connectrpc/connect";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { AdminService } from "../../gen/plugboard/v1/admin_pb.js";
import { adminTransport, type AdminConnection } from "./status-command.js";

export interface EnrolOptions extends AdminConnection {
  ttlMs?: number;
  uses?: number;
}

/**
 * Mints an enrolment token for one plugin name on a running host (Admin.IssueEnrolmentToken,
 * which needs an admin identity: mTLS certificate or JWT). The token goes to stdout only.
 */
export async function enrol(name: string, options: EnrolOptions): Promise<{ token: string; id: string; expiresAt: number }> {
  const client = createClient(AdminService, adminTransport(options));
  const res = await client.issueEnrolmentToken(
    { pluginName: name, ttlMs: BigInt(options.ttlMs ?? 0), uses: options.uses ?? 0 },
    options.bearer ? { headers: { authorization: `Bearer ${options.bearer}` } } : {},
  );
  return { token: res.token, id: res.id, expiresAt: res.expiresAt ? timestampMs(res.expiresAt) : 0 };
}

export function registerEnrolCommand(program: Command): Command {
  const positive = (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`expected a positive integer, got ${v}`);
    return n;
  };
  return program
    .command("enrol")
    .description("mint an enrolment token that proves <name> at handshake (needs an admin identity: mTLS certificate or JWT)")
    .argument("<name>", "plugin name the token is bound to")
    .requiredOption("--host <url>", "host URL, e.g. https://127.0.0.1:7777")
    .option("--ttl <ms>", "lifetime in milliseconds (host default 10 minutes)", positive)
    .option("--uses <n>", "handshakes the token admits (default 1)", positive)
    .option("--ca <file>", "CA certificate of the host")
    .option("--cert <file>", "client certificate (mTLS admin identity)")
    .option("--key <file>", "client key")
    .option("--token-env <name>", "environment variable holding an admin JWT", "PLUGBOARD_ADMIN_TOKEN")
    .option("--json", "print JSON (token, id, expiresAt) instead of the bare token")
    .action(async (name: string, opts: { host: string; ttl?: number; uses?: number; ca?: string; cert?: string; key?: string; tokenEnv: string; json?: boolean }) => {
      const bearer = process.env[opts.tokenEnv];
      const issued = await enrol(name, {
        host: opts.host,
        ...(opts.ca ? { ca: opts.ca } : {}),
        ...(opts.cert ? { cert: opts.cert } : {}),
        ...(opts.key ? { key: opts.key } : {}),
        ...(bearer ? { bearer } : {}),
        ...(opts.ttl ? { ttlMs: opts.ttl } : {}),
        ...(opts.uses ? { uses: opts.uses } : {}),
      });
      // The bare token on stdout, so `PLUGBOARD_ENROLMENT_TOKEN=$(plugboard enrol kv ...)` works; the id on stderr for revocation.
      if (opts.json) console.log(JSON.stringify({ ...issued, expiresAt: new Date(issued.expiresAt).toISOString() }));
      else {
        console.log(issued.token);
        console.error(`enrolment ${issued.id} for ${name}, expires ${new Date(issued.expiresAt).toISOString()}`);
      }
    });
}
