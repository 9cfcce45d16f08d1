import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { makeTempDir } from "../../helpers/temp-dirs.js";
import { fixtureSpec, isAlive, NEVER_HANDSHAKE_FIXTURE, startLauncherHarness, waitFor, type LauncherHarness } from "./harness.js";

const KV = "kv.v1.KVService";
let h: LauncherHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe("process launcher", () => {
  it("restarts a crashed plugin: the old runtime and its registration are gone, the new one registered", async () => {
    const restarts: number[] = [];
    h = await startLauncherHarness({ onRestart: (e) => restarts.push(e.restarts) });
    const crashFile = join(makeTempDir("pb-launcher-"), "crashed");
    const first = await h.launcher.start(fixtureSpec("kv", { FIXTURE_CRASH_ONCE: crashFile }, { restart: { policy: "on-failure", initialDelayMs: 50 } }));
    expect(first.state).toBe("ready");
    const ready = await waitFor("the restarted instance", () => {
      const s = h!.launcher.list()[0]!;
      return s.state === "ready" && s.runtimeId !== first.runtimeId && s;
    });
    expect(ready.restarts).toBe(1);
    expect(ready.pid).not.toBe(first.pid);
    expect(restarts).toEqual([1]);
    const registrations = await h.t.host.store.listRegistrations(KV);
    expect(registrations.map((r) => r.runtimeId)).toEqual([ready.runtimeId]);
    expect(await h.t.host.store.getRuntime(first.runtimeId!)).toBeUndefined();
    expect(isAlive(first.pid!)).toBe(false);
    expect(h.audits.map((a) => a.event)).toEqual(["plugin.start", "plugin.restart", "plugin.start"]);
  });

  it("times out a plugin that never handshakes and kills its process group", async () => {
    h = await startLauncherHarness();
    const start = h.launcher.start({ name: "mute", command: process.execPath, args: [NEVER_HANDSHAKE_FIXTURE], startTimeoutMs: 800 });
    await expect(start).rejects.toThrow(/plugin mute did not become ready within 800 ms/);
    const status = h.launcher.list()[0]!;
    expect(status.state).toBe("failed");
    await waitFor("the killed process to be gone", () => !isAlive(status.pid!), 3_000);
    expect(h.logs.some((r) => r.plugin === "mute" && r.stream === "stdout" && r.msg === `STARTED ${status.pid}`)).toBe(true);
    expect(h.audits).toContainEqual(expect.objectContaining({ event: "plugin.start", outcome: "failure", reason: "start timeout" }));
  });

  it("gives up after too many restarts within the window", async () => {
    h = await startLauncherHarness();
    const start = h.launcher.start({
      name: "crasher",
      command: process.execPath,
      args: ["-e", "process.exit(3)"],
      restart: { policy: "on-failure", initialDelayMs: 10, maxRestarts: 2, windowMs: 10_000 },
    });
    await expect(start).rejects.toThrow(/plugin crasher gave up: more than 2 restarts/);
    expect(h.launcher.list()[0]).toMatchObject({ name: "crasher", state: "gave-up", restarts: 2 });
    expect(h.audits.filter((a) => a.event === "plugin.restart").map((a) => a.outcome)).toEqual(["success", "success", "failure"]);
  });

  it("reports a command that cannot be spawned", async () => {
    h = await startLauncherHarness();
    // Default policy (on-failure): a command that cannot be spawned fails at once, no restart loop.
    const start = h.launcher.start({ name: "ghost", command: "/nonexistent/plugin" });
    await expect(start).rejects.toThrow("plugin ghost exited before it was ready (could not be spawned (spawn /nonexistent/plugin ENOENT))");
    expect(h.launcher.list()[0]).toMatchObject({ state: "failed", restarts: 0, pid: undefined });
    // The spawn error is logged, not a "started" line with pid -1.
    const ghost = h.logs.filter((r) => r["plugin"] === "ghost");
    expect(ghost.some((r) => r.msg === "plugin process started")).toBe(false);
    expect(ghost.filter((r) => r["pid"] === -1)).toEqual([]);
    expect(ghost).toContainEqual(expect.objectContaining({ level: 50, msg: "plugin process could not be spawned", err: "spawn /nonexistent/plugin ENOENT" }));
  });

  it("logs a clean exit 0 at INFO, a failing exit at WARN", async () => {
    h = await startLauncherHarness();
    const once = (name: string, code: number) =>
      h!.launcher.start({ name, command: process.execPath, args: ["-e", `process.exit(${code})`], restart: { policy: "never" } }).catch(() => undefined);
    await Promise.all([once("done", 0), once("broken", 4)]);
    const exitLog = (name: string) => h!.logs.find((r) => r["plugin"] === name && r.msg === "plugin exited; not restarted (policy)");
    expect(exitLog("done")).toMatchObject({ level: 30, exit: "exit code 0" });
    expect(exitLog("broken")).toMatchObject({ level: 40, exit: "exit code 4" });
  });

  it("passes only the spec's variables, the allow-listed ones and PLUGBOARD_* to the plugin", async () => {
    process.env["HOST_ONLY_SECRET_FOR_TEST"] = "must-not-leak";
    try {
      h = await startLauncherHarness();
      await h.launcher.start(fixtureSpec("envy", { FIXTURE_PRINT_ENV: "1", FOO: "bar" }, { inheritEnv: ["PATH"] }));
      const line = await waitFor("the env line", () => h!.logs.find((r) => r.plugin === "envy" && String(r.msg).startsWith("ENV_KEYS ")));
      const keys = JSON.parse(String(line.msg).slice("ENV_KEYS ".length)) as string[];
      expect(keys).toEqual(
        ["FIXTURE_NAME", "FIXTURE_PRINT_ENV", "FOO", "PATH", "PLUGBOARD_HOST_URL", "PLUGBOARD_LAUNCH_SECRET", "PLUGBOARD_MAGIC_COOKIE_KEY", "PLUGBOARD_MAGIC_COOKIE_VALUE", "PLUGBOARD_PARENT_PID", "PLUGBOARD_PLUGIN_PORT"].sort(),
      );
      // The launch secret never reaches the logs.
      expect(JSON.stringify(h.logs)).not.toMatch(/pbls_/);
    } finally {
      delete process.env["HOST_ONLY_SECRET_FOR_TEST"];
    }
  });

  it("stops with SIGTERM: the runtime is revoked and the process gone", async () => {
    h = await startLauncherHarness();
    const s = await h.launcher.start(fixtureSpec("kv"));
    await h.launcher.stop("kv");
    expect(h.launcher.list()[0]).toMatchObject({ state: "stopped", runtimeId: undefined });
    expect(isAlive(s.pid!)).toBe(false);
    expect(await h.t.host.store.listRegistrations(KV)).toEqual([]);
    expect(await h.t.host.store.getRuntime(s.runtimeId!)).toBeUndefined();
  });

  it("startAll starts providers first and waits for their registrations before starting dependents", async () => {
    h = await startLauncherHarness();
    const consumer = fixtureSpec("consumer", { FIXTURE_NO_REGISTER: "1" }, { requires: [KV], readiness: { registrations: [] } });
    const provider = fixtureSpec("kv", {}, { provides: [KV], readiness: {} });
    await expect(h.launcher.startAll([{ ...consumer, provides: ["X"] }, { ...provider, requires: ["X"] }])).rejects.toThrow(
      "dependency cycle: consumer → kv → consumer",
    );
    expect(h.launcher.list()).toEqual([]);
    const started = await h.launcher.startAll([consumer, provider]);
    expect(started.map((s) => s.name)).toEqual(["kv", "consumer"]);
    const [registration] = await h.t.host.store.listRegistrations(KV);
    const consumerRuntime = await h.t.host.store.getRuntime(started[1]!.runtimeId!);
    const providerRuntime = await h.t.host.store.getRuntime(registration!.runtimeId);
    expect(registration!.runtimeId).toBe(started[0]!.runtimeId);
    expect(consumerRuntime!.startedAt).toBeGreaterThan(providerRuntime!.startedAt);

    // stopAll goes the other way: the dependent stops before its provider.
    await h.launcher.stopAll();
    const stops = h.audits.filter((a) => a.event === "plugin.stop").map((a) => a.target?.split(" ")[0]);
    expect(stops).toEqual(["consumer", "kv"]);
  });
});
