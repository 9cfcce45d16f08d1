import { describe, expect, it } from "vitest";
import { run } from "../../helpers/processes.js";

describe("bench/connect-clients.ts (--quick)", () => {
  it("runs direct, bare-proxy, router and router-bridged variants in child processes and prints the ratio lines", async () => {
    const { code, stdout, stderr } = await run("bench/connect-clients.ts", ["--quick"]);
    expect(code, stderr).toBe(0);
    for (const workload of ["unary-c1", "unary-c32", "stream"]) {
      for (const variant of ["direct", "bare-proxy", "router", "router-bridged"]) {
        expect(stdout).toMatch(new RegExp(`^${workload}\\s+${variant}\\s+\\d+ `, "m"));
      }
      expect(stdout).toMatch(new RegExp(`^ratio ${workload} router/bare-proxy: throughput [\\d.]+% \\[(PASS|MISS) .*p50 [+-][\\d.]+ ms \\[(PASS|MISS)`, "m"));
      expect(stdout).toMatch(new RegExp(`^ratio ${workload} router-bridged/router \\(Connect → gRPC translation\\): throughput [\\d.]+%, p50 [+-][\\d.]+ ms`, "m"));
      expect(stdout).toMatch(new RegExp(`^ratio ${workload} bare-proxy/direct: throughput [\\d.]+%, p50 [+-][\\d.]+ ms$`, "m"));
    }
    expect(stdout).toMatch(/^targets: (all PASS|\d+ MISS)$/m);
  }, 120_000);
});
