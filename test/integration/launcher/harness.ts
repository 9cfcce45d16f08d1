import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import type { AuditEvent } from "../../../src/audit/audit.js";
import { createLauncher, type Launcher, type LauncherOptions, type PluginSpec } from "../../../src/launcher/index.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";

export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const PLUGIN_FIXTURE = fileURLToPath(new URL("../../fixtures/launcher/plugin.ts", import.meta.url));
export const NEVER_HANDSHAKE_FIXTURE = fileURLToPath(new URL("../../fixtures/launcher/never-handshake.mjs", import.meta.url));
export const HOST_FIXTURE = fileURLToPath(new URL("../../fixtures/launcher/host.ts", import.meta.url));

export type LogRecord = Record<string, unknown> & { msg?: string; plugin?: string; stream?: string };

/** A real host on loopback, a launcher for it, and everything they logged and audited. */
export interface LauncherHarness {
  t: TestHost;
  launcher: Launcher;
  logs: LogRecord[];
  audits: AuditEvent[];
  close(): Promise<void>;
}

export async function startLauncherHarness(options: Partial<LauncherOptions> = {}): Promise<LauncherHarness> {
  const logs: LogRecord[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line) logs.push(JSON.parse(line) as LogRecord);
      done();
    },
  });
  const logger = pino({ level: "info" }, sink);
  const audits: AuditEvent[] = [];
  // Launched plugins must present their launch secret: proves each instance gets a fresh one.
  const t = await startTestHost({ logger, requireLaunchSecret: true });
  const launcher = createLauncher({ host: t.host, hostUrl: t.url, logger, audit: (e) => audits.push(e), ...options });
  return {
    t,
    launcher,
    logs,
    audits,
    async close() {
      await launcher.stopAll();
      await t.close();
    },
  };
}

/** A spec running the protocol-only plugin fixture under tsx. */
export function fixtureSpec(name: string, env: Record<string, string> = {}, extra: Partial<PluginSpec> = {}): PluginSpec {
  return {
    name,
    command: process.execPath,
    args: ["--import", "tsx", PLUGIN_FIXTURE],
    cwd: REPO_ROOT,
    env: { FIXTURE_NAME: name, ...env },
    startTimeoutMs: 8_000,
    readiness: { registrations: ["kv.v1.KVService"] },
    stopGraceMs: 2_000,
    ...extra,
  };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 8_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
