import { describe, expect, it } from "vitest";
import { startParentWatchdog } from "../../../src/launcher/watchdog.js";
import { killGroup, spawnGroup } from "../../helpers/processes.js";

describe("startParentWatchdog", () => {
  it("calls onParentGone once the watched process is gone, and not before", async () => {
    const parent = spawnGroup(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
    const exited = new Promise((resolve) => parent.once("exit", resolve));
    let gone = 0;
    const stop = startParentWatchdog({ parentPid: parent.pid!, intervalMs: 20, onParentGone: () => gone++ });
    await new Promise((r) => setTimeout(r, 100));
    expect(gone).toBe(0);
    await killGroup(parent);
    await exited;
    await new Promise((r) => setTimeout(r, 100));
    expect(gone).toBe(1);
    stop();
  });

  it("does nothing without a parent pid, however long it runs", async () => {
    const saved = process.env["PLUGBOARD_PARENT_PID"];
    delete process.env["PLUGBOARD_PARENT_PID"];
    let gone = 0;
    const stop = startParentWatchdog({ intervalMs: 5, onParentGone: () => gone++ });
    try {
      // Twenty intervals: had it picked some pid to watch (none, NaN, 0), it would have judged it gone by now.
      await new Promise((r) => setTimeout(r, 100));
      expect(gone).toBe(0);
    } finally {
      stop();
      if (saved !== undefined) process.env["PLUGBOARD_PARENT_PID"] = saved;
    }
  });

  it("with a parent pid from the environment, watches it like an explicit one", async () => {
    const parent = spawnGroup(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
    const exited = new Promise((resolve) => parent.once("exit", resolve));
    const saved = process.env["PLUGBOARD_PARENT_PID"];
    process.env["PLUGBOARD_PARENT_PID"] = String(parent.pid);
    let gone = 0;
    const stop = startParentWatchdog({ intervalMs: 5, onParentGone: () => gone++ });
    try {
      await killGroup(parent);
      await exited;
      await expect.poll(() => gone, { timeout: 5_000 }).toBe(1);
    } finally {
      stop();
      if (saved === undefined) delete process.env["PLUGBOARD_PARENT_PID"];
      else process.env["PLUGBOARD_PARENT_PID"] = saved;
    }
  });
});
