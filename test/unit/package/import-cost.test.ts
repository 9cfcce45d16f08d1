import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { runCommand } from "../../helpers/processes.js";
import { makeTempDir } from "../../helpers/temp-dirs.js";

// Imports the BUILT package (dist/, built by test/global-setup.ts) in a fresh node process that
// records every module it loads (test/fixtures/package/record-loads.mjs).
const ROOT = resolve(import.meta.dirname, "../../..");
const RECORDER = join(ROOT, "test/fixtures/package/record-loads.mjs");
// The optional integrations, the Reflect polyfill, and what only certificate or JWT checks need (loaded on first use).
const OPTIONAL = /\/node_modules\/(@aws-sdk|ioredis|reflect-metadata|tsyringe|@peculiar|jose)\//;

async function loadsOf(specifier: string): Promise<{ modules: string[]; reflectMetadata: string }> {
  const file = join(makeTempDir("pb-loads-"), "loads.txt");
  const result = await runCommand(process.execPath, ["--import", RECORDER, "--input-type=module", "-e", `await import(${JSON.stringify(specifier)})`], {
    cwd: ROOT,
    env: { RECORD_LOADS_FILE: file },
  });
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  const lines = readFileSync(file, "utf8").trim().split("\n");
  return {
    modules: lines.filter((l) => l.startsWith("esm ") || l.startsWith("cjs ")).map((l) => l.slice(4)),
    reflectMetadata: lines.find((l) => l.startsWith("reflect.getMetadata "))!.split(" ")[1]!,
  };
}

describe("importing the package loads no optional integration and patches no global", () => {
  it.each(["plugboard", "plugboard/sdk"])("%s", async (specifier) => {
    const { modules, reflectMetadata } = await loadsOf(specifier);
    expect(modules.some((m) => m.includes("/@connectrpc/connect/"))).toBe(true);
    expect(modules.filter((m) => OPTIONAL.test(m))).toEqual([]);
    expect(reflectMetadata).toBe("undefined");
  });

  // The recorder sees an optional integration when it is loaded (else the test above could not fail).
  it("plugboard/redis does load ioredis", async () => {
    const { modules } = await loadsOf("plugboard/redis");
    expect(modules.some((m) => m.includes("/node_modules/ioredis/"))).toBe(true);
  });
});
