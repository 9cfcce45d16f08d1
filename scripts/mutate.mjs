#!/usr/bin/env node
/**
 * Mutation testing, one security-critical folder at a time (docs/testing.md):
 *   node scripts/mutate.mjs            every folder, smallest first
 *   node scripts/mutate.mjs tokens     one folder (src/tokens)
 * Each folder keeps its own incremental file (reports/mutation/<folder>.incremental.json, committed),
 * so a re-run tests only the mutants whose code or covering tests changed since the last run.
 * Extra arguments after `--` go to Stryker (e.g. `-- --concurrency 2`).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
/**
 * The tests run against each folder's mutants: the unit and security tests (in-process, fast) plus the
 * integration suites of the folder's concern. Per-test coverage then runs, for each mutant, only the
 * tests that executed it. Suites whose checks run in child processes cannot kill a mutant (it lives
 * only in the test process) and are left out, as are load-sensitive flood tests of other folders.
 */
const COMMON = [
  ...readdirSync(join(ROOT, "test/unit"))
    .filter((dir) => dir !== "package") // tests of the built package (dist/), not of src/
    .map((dir) => `test/unit/${dir}/**/*.test.ts`),
  ...readdirSync(join(ROOT, "test/security"))
    .filter((f) => f.endsWith(".test.ts") && !["slowloris.test.ts", "floods.test.ts", "stream-limits.test.ts"].includes(f))
    .map((f) => `test/security/${f}`),
];
const host = (...names) => names.map((n) => `test/integration/host/${n}.test.ts`);
/** Smallest and most security-critical first. */
export const FOLDER_TESTS = {
  tokens: [...host("handshake", "auth-required", "broker"), "test/store/memory.test.ts"],
  validation: host("handshake", "registry"),
  protocol: [...host("handshake"), "test/integration/router/passthrough.test.ts", "test/integration/sdk/routing.test.ts"],
  broker: host("broker", "auth-required"),
  policy: [...host("auth-required", "host-client"), "test/integration/identity/*.test.ts", "test/integration/ops/dashboard-access.test.ts"],
  handshake: host("handshake", "auth-required"),
  registry: host("registry", "watch-snapshot", "slow-watcher", "routing-cache"),
  identity: ["test/integration/identity/*.test.ts", ...host("auth-required")],
  secrets: ["test/integration/secrets/*.test.ts", ...host("secrets", "watch-secrets"), "test/integration/sdk/secret-admission.test.ts"],
  router: ["test/integration/router/*.test.ts", ...host("bridge", "routing-cache", "in-flight")],
  sdk: ["test/integration/sdk/*.test.ts"],
};
export const FOLDERS = Object.keys(FOLDER_TESTS);

const dashDash = process.argv.indexOf("--");
const args = dashDash === -1 ? process.argv.slice(2) : process.argv.slice(2, dashDash);
const strykerArgs = dashDash === -1 ? [] : process.argv.slice(dashDash + 1);
const folders = args.length > 0 ? args : FOLDERS;

for (const folder of folders) {
  if (!FOLDERS.includes(folder) || !existsSync(join(ROOT, "src", folder))) {
    console.error(`unknown folder "${folder}"; one of: ${FOLDERS.join(", ")}`);
    process.exit(2);
  }
}

let failed = false;
for (const folder of folders) {
  console.log(`\n=== mutating src/${folder} ===`);
  const run = spawnSync(
    process.execPath,
    [
      join(ROOT, "node_modules/@stryker-mutator/core/bin/stryker.js"),
      "run",
      "--testFiles", [...COMMON, ...FOLDER_TESTS[folder]].join(","),
      ...strykerArgs,
    ],
    { cwd: ROOT, stdio: "inherit", env: { ...process.env, MUTATE_FOLDER: folder } },
  );
  if (run.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
