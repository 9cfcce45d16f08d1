import { describe, expect, it } from "vitest";
import { run } from "../../helpers/processes.js";

describe("npm run bench: secret comparison timing (--quick)", () => {
  it("measures the positive control, secretsEqual and token verification and prints one line each", async () => {
    const { code, stdout, stderr } = await run("bench/secret-compare-timing.ts", ["--quick"]);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^timing early-exit-compare \(positive control\) \|t\| [\d.]+ \[(detected|NOT detected.*)\]$/m);
    expect(stdout).toMatch(/^timing secretsEqual \|t\| [\d.]+ \[(PASS|MISS) < 10\]$/m);
    expect(stdout).toMatch(/^timing token-verify \|t\| [\d.]+ \[(PASS|MISS) < 10\]$/m);
  }, 120_000);
});
