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

  it("does nothing without a parent pid", () => {
    const saved = process.env["PLUGBOARD_PARENT_PID"];
    delete process.env["PLUGBOARD_PARENT_PID"];
    try {
      const stop = startParentWatchdog({ onParentGone: () => expect.fail("called") });
      stop();
    } finally {
      if (saved !== undefined) process.env["PLUGBOARD_PARENT_PID"] = saved;
    }
  });
});
