import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { HOST_FIXTURE, PLUGIN_FIXTURE, REPO_ROOT, isAlive, waitFor } from "./harness.js";

describe("a host killed with SIGKILL", () => {
  it("leaves no plugin running: the plugin's watchdog notices and exits", async () => {
    const host = spawn(process.execPath, ["--import", "tsx", HOST_FIXTURE, PLUGIN_FIXTURE], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "inherit"] });
    try {
      const lines = createInterface({ input: host.stdout! });
      const pluginPid = await new Promise<number>((resolve, reject) => {
        lines.on("line", (line) => {
          const m = /^PLUGIN_PID (\d+)$/.exec(line);
          if (m) resolve(Number(m[1]));
        });
        host.once("exit", () => reject(new Error("host exited early")));
      });
      expect(isAlive(pluginPid)).toBe(true);
      host.kill("SIGKILL");
      await waitFor("the orphaned plugin to exit", () => !isAlive(pluginPid), 4_000);
    } finally {
      host.kill("SIGKILL");
    }
  });
});
