import { join } from "node:path";
import { expect, it } from "vitest";
import { findLeftoverProcesses } from "../../helpers/leftovers.js";
import { killGroup, spawnGroup } from "../../helpers/processes.js";

// The end-of-run check (test/global-setup.ts) relies on this finding a stray process of the checkout.
it("finds a running process whose command line names the checkout, and not once it is gone", async () => {
  const needle = join(import.meta.dirname, "leftover-probe");
  const child = spawnGroup(process.execPath, ["-e", "setInterval(() => {}, 1000)", needle], { stdio: "ignore" });
  try {
    const found = findLeftoverProcesses({ needles: [needle], runnerPid: process.pid });
    expect(found.map((p) => p.pid)).toEqual([child.pid]);
  } finally {
    await killGroup(child);
  }
  expect(findLeftoverProcesses({ needles: [needle], runnerPid: process.pid })).toEqual([]);
});
