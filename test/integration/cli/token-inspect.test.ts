import { describe, expect, it } from "vitest";
import { run } from "../../helpers/processes.js";

const CLI = "src/cli/main.ts";

describe("plugboard token inspect", () => {
  it("exits non-zero with a clear message for garbage, and never prints the input", async () => {
    const result = await run(CLI, ["token", "inspect", "garbage-not-a-token"]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe("plugboard: not a plugboard token (pbrt_…, pbgt_…) or a JWT");
    expect(result.stdout + result.stderr).not.toContain("garbage-not-a-token");
  });

  it("exits 0 for a well-formed runtime token (read from stdin)", async () => {
    const result = await run(CLI, ["token", "inspect"], {}, `pbrt_${"A".repeat(43)}\n`);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ kind: "runtime", wellFormed: true });
  });

  it("a truncated runtime token is malformed: exit 1", async () => {
    const result = await run(CLI, ["token", "inspect", "pbrt_short"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("malformed runtime token");
  });
});
