/**
 * As an operator: `plugboard host` with an `ops:` listener, scraped over HTTP/1.1, and `plugboard status`
 * run with no flags on the same machine (it finds the host and its admin credential in the credentials file).
 */
import { statSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { exitOf, killGroup, run, spawnTs, waitForLine } from "../../helpers/processes.js";
import { makeTempDir } from "../../helpers/temp-dirs.js";

const CLI = "src/cli/main.ts";
const COOKIE = { key: "PLUGBOARD_EXAMPLE", value: "example-plugins-2c1f" };
const KV = {
  name: "kv-provider",
  command: process.execPath,
  args: ["--import", "tsx", "examples/kv-provider/main.ts"],
  provides: ["kv.v1.KVService"],
  env: { KV_PROVIDER_NAME: "kv-provider" },
};
let child: ChildProcess | undefined;
afterEach(async () => {
  if (child) await killGroup(child);
  child = undefined;
});

/** Starts `plugboard host` with its runtime dir in a temp folder; resolves at the line `accept` picks. */
async function startHost(config: object, accept: (line: string) => boolean) {
  const dir = makeTempDir("pb-ops-cli-");
  const file = join(dir, "host.yaml");
  await writeFile(file, JSON.stringify({ listen: { port: 0 }, magicCookie: COOKIE, ops: { port: 0 }, ...config }));
  const env = { XDG_RUNTIME_DIR: dir, PLUGBOARD_ADMIN_TOKEN: "" };
  child = spawnTs(CLI, ["host", "--config", file], env);
  const line = JSON.parse(await waitForLine(child, accept, 60_000)) as { url: string; opsUrl?: string };
  return { dir, env, line };
}

describe("plugboard host ops listener and plugboard status", () => {
  it("scrapes /metrics over HTTP/1.1 with process metrics; /readyz after the launched plugin; status works out of the box", async () => {
    const { dir, env, line } = await startHost({ plugins: [KV] }, (l) => l.includes("plugboard host ready"));
    expect(line.opsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const metrics = await fetch(`${line.opsUrl}/metrics`);
    expect(metrics.status).toBe(200);
    const body = await metrics.text();
    expect(body).toContain("process_cpu_seconds_total");
    expect(body).toContain("plugboard_launched_plugins{plugin=\"kv-provider\",state=\"ready\"} 1");
    expect((await fetch(`${line.opsUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${line.opsUrl}/readyz`);
    expect([ready.status, await ready.text()]).toEqual([200, "ready\n"]);

    // The credentials file is the user's alone.
    const credentials = join(dir, "plugboard", "admin.json");
    expect(statSync(credentials).mode & 0o777).toBe(0o600);

    const status = await run(CLI, ["status"], env);
    expect(status.stderr).toBe("");
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^kv-provider@1\.0\.0  \S+  healthy  name proven by launch_secret  running  pid \d+  restarts 0$/m);
    expect(status.stdout).toContain("provides kv.v1.KVService@1.0.0 at http://127.0.0.1:");

    const json = await run(CLI, ["status", "--json"], env);
    expect(json.code).toBe(0);
    expect(json.stdout).not.toContain("$typeName");
    const parsed = JSON.parse(json.stdout) as { plugins: Array<Record<string, unknown>>; runtimes: Array<Record<string, unknown>> };
    expect(parsed.plugins).toEqual([
      expect.objectContaining({ name: "kv-provider", state: "LAUNCH_STATE_RUNNING", restarts: 0, pid: expect.any(Number) }),
    ]);
    expect(parsed.runtimes[0]).toMatchObject({
      pluginName: "kv-provider",
      health: "HEALTH_STATE_HEALTHY",
      healthMessage: "",
      nameProof: "NAME_PROOF_LAUNCH_SECRET",
    });
    expect(parsed.plugins[0]!["runtimeId"]).toBe(parsed.runtimes[0]!["runtimeId"]);

    child!.kill("SIGTERM");
    expect(await exitOf(child!)).toBe(0);
    // A stopped host takes its credential along.
    expect(() => statSync(credentials)).toThrow();
  });

  it("/readyz is 503 while a launched plugin is not ready, and says which", async () => {
    const slow = { name: "slow", command: process.execPath, args: ["-e", "setInterval(() => {}, 1000)"] };
    const { line } = await startHost({ plugins: [slow] }, (l) => l.includes("plugboard ops endpoints listening"));
    const opsUrl = (line as unknown as { url: string }).url;
    const ready = await fetch(`${opsUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toMatch(/^plugins not ready: slow \(starting\)/);
  });

  it("a plugin that gave up: status shows its state and restarts, /readyz names it, the others serve", async () => {
    const crashy = {
      name: "crashy",
      command: process.execPath,
      args: ["-e", "process.exit(3)"],
      restart: { policy: "on-failure", maxRestarts: 1, initialDelayMs: 10, windowMs: 60_000 },
    };
    const { env, line } = await startHost({ plugins: [KV, crashy] }, (l) => l.includes("plugboard host ready"));
    const status = await run(CLI, ["status"], env);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^crashy  \(no runtime\)  gave up  pid -  restarts 1$/m);
    expect(status.stdout).toMatch(/^kv-provider@1\.0\.0 .* running  pid \d+  restarts 0$/m);
    const json = JSON.parse((await run(CLI, ["status", "--json"], env)).stdout) as { plugins: Array<Record<string, unknown>> };
    expect(json.plugins.find((p) => p["name"] === "crashy")).toEqual({ name: "crashy", pid: 0, restarts: 1, state: "LAUNCH_STATE_GAVE_UP", runtimeId: "" });
    const ready = await fetch(`${line.opsUrl}/readyz`);
    expect([ready.status, await ready.text()]).toEqual([503, "plugins not ready: crashy (gave-up)\n"]);
  });

  it("status without a running host says where it looked", async () => {
    const dir = makeTempDir("pb-ops-cli-");
    const result = await run(CLI, ["status"], { XDG_RUNTIME_DIR: dir, PLUGBOARD_ADMIN_TOKEN: "" });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`no admin credentials at ${join(dir, "plugboard", "admin.json")}`);
  });
});
