import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { killGroup, spawnGroup } from "../../helpers/processes.js";
import { HOST_FIXTURE, PLUGIN_FIXTURE, REPO_ROOT, isAlive, waitFor } from "./harness.js";

/** Runs the host fixture (which launches one plugin) and resolves with the plugin's pid. */
function startHost(...args: string[]) {
  const host = spawnGroup(process.execPath, ["--import", "tsx", HOST_FIXTURE, PLUGIN_FIXTURE, ...args], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: host.stdout! });
  const pluginPid = new Promise<number>((resolve, reject) => {
    lines.on("line", (line) => {
      const m = /^PLUGIN_PID (\d+)$/.exec(line);
      if (m) resolve(Number(m[1]));
    });
    host.once("exit", () => reject(new Error("host exited before its plugin was ready")));
  });
  return { host, pluginPid };
}

describe("plugins do not outlive their host", () => {
  it("exiting normally, the host stops its plugins (exit hook; watchdog off)", async () => {
    const { host, pluginPid } = startHost("exit");
    let pid: number | undefined;
    try {
      pid = await pluginPid;
      await waitFor("the plugin to be stopped", () => !isAlive(pid!), 3_000);
    } finally {
      await killGroup(host);
      if (pid !== undefined && isAlive(pid)) process.kill(pid, "SIGKILL"); // never leave an orphan behind
    }
  });

  it("killed with SIGKILL, the host leaves no plugin running: the plugin's watchdog notices and exits", async () => {
    const { host, pluginPid: pending } = startHost();
    let pluginPid: number | undefined;
    try {
      pluginPid = await pending;
      expect(isAlive(pluginPid)).toBe(true);
      await killGroup(host);
      await waitFor("the orphaned plugin to exit", () => !isAlive(pluginPid!), 4_000);
    } finally {
      await killGroup(host);
      if (pluginPid !== undefined && isAlive(pluginPid)) process.kill(pluginPid, "SIGKILL");
    }
  });
});
