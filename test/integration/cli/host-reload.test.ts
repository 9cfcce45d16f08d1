import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import type { ChildProcess } from "node:child_process";
import { Code, createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { AdminService } from "../../../gen/plugboard/v1/admin_pb.js";
import { HandshakeService } from "../../../gen/plugboard/v1/handshake_pb.js";
import { COOKIE, handshakeRequest } from "../../helpers/host.js";
import { exitOf, killGroup, run, spawnTs, waitForLine } from "../../helpers/processes.js";
import { makeTempDir } from "../../helpers/temp-dirs.js";
import { bearer, createTransports } from "../../helpers/transports.js";

const CLI = "src/cli/main.ts";
const FIXTURE = resolve(import.meta.dirname, "../../fixtures/launcher/plugin.ts");
let child: ChildProcess | undefined;
afterEach(async () => {
  if (child) await killGroup(child);
  child = undefined;
});

/** A launched plugin that registers a KV service and stays (the wire-protocol fixture). */
const plugin = (name: string) => ({ name, command: process.execPath, args: ["--import", "tsx", FIXTURE], env: { FIXTURE_NAME: name } });
/** Audit lines are written asynchronously: wait for the record (generous bound). */
async function until(check: () => boolean, timeoutMs = 15_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  return check();
}
/** Every plugin (and the host's readiness checks) may register and discover; only `subject` may list runtimes (admin). */
const rbacFor = (subject: string) =>
  JSON.stringify({ roles: { ops: { allow: ["admin"] }, plugin: { allow: ["register:*", "discover:*"] } }, defaultRoles: ["plugin"], bindings: [{ subject, role: "ops" }] });

describe("plugboard host: config reload without restart", () => {
  it("plugboard reload / SIGHUP swap RBAC and the plugin list; an invalid edit changes nothing; every reload is audited", async () => {
    const dir = makeTempDir("pb-reload-");
    const hostFile = join(dir, "host.yaml");
    const writeHost = (plugins: object[], extra: object = {}) =>
      // The test's own callers hand-start (prove no name): RBAC binds them by subject.
      writeFileSync(hostFile, JSON.stringify({ listen: { port: 0 }, magicCookie: COOKIE, allowUnprovenNames: true, rbac: "rbac.yaml", plugins, ...extra }));
    writeFileSync(join(dir, "rbac.yaml"), rbacFor("nobody"));
    writeHost([plugin("alpha")]);

    child = spawnTs(CLI, ["host", "--config", hostFile, "--no-pretty"]);
    const lines: Record<string, unknown>[] = [];
    createInterface({ input: child.stdout! }).on("line", (line) => line.startsWith("{") && lines.push(JSON.parse(line)));
    const url = JSON.parse(await waitForLine(child, (l) => l.includes("plugboard host ready"))).url as string;
    const transports = createTransports(url);
    try {
      const handshake = createClient(HandshakeService, transports.make("connect"));
      const admin = createClient(AdminService, transports.make("connect"));
      const callerOf = async (pluginName: string) => {
        const res = await handshake.handshake(handshakeRequest({ pluginName }));
        return { token: res.runtimeToken, subject: `runtime:${res.runtimeId}` };
      };
      const listAs = (token: string) => admin.listRuntimes({}, bearer(token));
      const tester = await callerOf("tester");
      const auditor = await callerOf("auditor");
      await expect(listAs(tester.token)).rejects.toMatchObject({ code: Code.PermissionDenied });

      // A SIGHUP after an RBAC edit: the tester is now an admin.
      writeFileSync(join(dir, "rbac.yaml"), rbacFor(tester.subject));
      const first = waitForLine(child, (l) => l.includes('"msg":"config reloaded"'), 60_000);
      process.kill(Number(readFileSync(`${hostFile}.pid`, "utf8").trim()), "SIGHUP");
      expect(JSON.parse(await first)).toMatchObject({ applied: ["rbac"] });
      expect((await listAs(tester.token)).runtimes.map((r) => r.pluginName)).toContain("alpha");
      await expect(listAs(auditor.token)).rejects.toMatchObject({ code: Code.PermissionDenied });

      // Edit both files as an operator would, then `plugboard reload` (it signals the host through host.yaml.pid).
      writeFileSync(join(dir, "rbac.yaml"), rbacFor(auditor.subject));
      writeHost([plugin("beta")]);
      const reloaded = waitForLine(child, (l) => l.includes('"msg":"config reloaded"'), 60_000);
      const sent = await run(CLI, ["reload", "--config", hostFile]);
      expect(sent.stderr).toBe("");
      expect(sent.stdout).toMatch(/sent SIGHUP to plugboard host pid \d+/);
      expect(JSON.parse(await reloaded)).toMatchObject({ applied: ["rbac", "plugins +beta -alpha"] });
      // The new rule refuses the tester and admits the auditor; beta was launched, alpha stopped.
      await expect(listAs(tester.token)).rejects.toMatchObject({ code: Code.PermissionDenied });
      expect((await listAs(auditor.token)).runtimes.map((r) => r.pluginName)).toContain("beta");
      expect(await until(() => lines.some((r) => r["audit"] === true && r["event"] === "plugin.stop" && String(r["target"]).startsWith("alpha")))).toBe(true);
      expect(await until(() => lines.some((r) => r["event"] === "config.reload"))).toBe(true);
      expect(lines.find((r) => r["audit"] === true && r["event"] === "config.reload")).toMatchObject({ outcome: "success", target: hostFile });

      // An invalid edit: `plugboard reload` refuses it before signalling, naming the file and key...
      writeHost([plugin("beta"), { name: "gamma" }]);
      const refusedHere = await run(CLI, ["reload", "--config", hostFile]);
      expect(refusedHere.code).toBe(2);
      expect(refusedHere.stderr).toContain(`${hostFile}: config plugins[1].command: must be a non-empty string`);
      // ...and a raw SIGHUP is refused by the host: logged with the problems, audited, nothing changed.
      const refused = waitForLine(child, (l) => l.includes("config reload refused"), 30_000);
      const hostPid = Number(readFileSync(`${hostFile}.pid`, "utf8").trim());
      expect(hostPid).toBeGreaterThan(1);
      process.kill(hostPid, "SIGHUP");
      expect(JSON.parse(await refused)).toMatchObject({ problems: [expect.stringContaining("plugins[1].command")] });
      expect(await until(() => lines.filter((r) => r["event"] === "config.reload").length === 3)).toBe(true);
      expect(lines.filter((r) => r["event"] === "config.reload").at(-1)).toMatchObject({ outcome: "failure", level: 40 });
      expect((await listAs(auditor.token)).runtimes.map((r) => r.pluginName)).toContain("beta");
      await expect(listAs(tester.token)).rejects.toMatchObject({ code: Code.PermissionDenied });
      expect(lines.some((r) => r["plugin"] === "gamma")).toBe(false);
    } finally {
      transports.close();
    }
    child.kill("SIGTERM");
    expect(await exitOf(child)).toBe(0);
  }, 120_000);
});

