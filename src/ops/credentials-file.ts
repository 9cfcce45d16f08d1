import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

/** What `plugboard host` leaves for `plugboard status` on the same machine. */
export interface AdminCredentialsFile {
  /** The host's main URL (AdminService). */
  url: string;
  /** The ops listener's URL, when one is configured. */
  opsUrl?: string;
  /** The admin bearer credential (pbadm_…). */
  token: string;
  /** The host process, for operators and for stale-file detection. */
  pid: number;
  /** The CA file of the host's TLS config, when it has one (status verifies the host with it). */
  ca?: string;
}

/**
 * `$XDG_RUNTIME_DIR/plugboard/admin.json` (a per-user tmpfs on most Linux desktops),
 * else `~/.plugboard/admin.json`. `PLUGBOARD_ADMIN_CREDENTIALS` overrides both.
 */
export function defaultAdminCredentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env["PLUGBOARD_ADMIN_CREDENTIALS"]) return env["PLUGBOARD_ADMIN_CREDENTIALS"];
  const base = env["XDG_RUNTIME_DIR"] ? join(env["XDG_RUNTIME_DIR"], "plugboard") : join(homedir(), ".plugboard");
  return join(base, "admin.json");
}

/** Writes the file readable by this user only (0600, in a 0700 folder it creates). */
export function writeAdminCredentials(file: string, credentials: AdminCredentialsFile): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // Written with 0600 from the first byte; chmod covers a file that existed with wider rights.
  writeFileSync(file, JSON.stringify(credentials) + "\n", { mode: 0o600 });
  chmodSync(file, 0o600);
}

export function readAdminCredentials(file: string): AdminCredentialsFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(
      code === "ENOENT"
        ? `no admin credentials at ${file}: is plugboard host running as this user? (or pass --host and a credential)`
        : `cannot read admin credentials ${file}: ${code ?? String(e)}`,
    );
  }
  const parsed = JSON.parse(text) as Partial<AdminCredentialsFile>;
  if (typeof parsed.url !== "string" || typeof parsed.token !== "string")
    throw new Error(`admin credentials ${file}: expected "url" and "token"`);
  return parsed as AdminCredentialsFile;
}

/** Removes the file if it still holds this host's credential (another host may have replaced it). */
export function removeAdminCredentials(file: string, token: string): void {
  try {
    if (JSON.parse(readFileSync(file, "utf8")).token === token) rmSync(file, { force: true });
  } catch {
    // gone or unreadable: nothing of ours to remove
  }
}
