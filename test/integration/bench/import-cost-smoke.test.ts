import { describe, expect, it } from "vitest";
import { run } from "../../helpers/processes.js";

describe("npm run bench:import (--quick)", () => {
  it("reports the import time of plugboard and plugboard/sdk as ratios to @connectrpc/connect-node alone", async () => {
    const { code, stdout, stderr } = await run("bench/import-cost.ts", ["--quick"]);
    expect(code, stderr).toBe(0);
    for (const specifier of ["@connectrpc/connect-node", "plugboard", "plugboard/sdk"]) {
      expect(stdout).toMatch(new RegExp(`^import ${specifier}\\s+[\\d.]+ ms$`, "m"));
    }
    for (const specifier of ["plugboard", "plugboard/sdk"]) {
      expect(stdout).toMatch(new RegExp(`^ratio import ${specifier} / @connectrpc/connect-node: [\\d.]+x$`, "m"));
    }
  }, 120_000);
});
