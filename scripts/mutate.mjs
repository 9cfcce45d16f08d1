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
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
/** Smallest and most security-critical first. */
export const FOLDERS = ["tokens", "validation", "protocol", "broker", "policy", "handshake", "registry", "identity", "secrets", "router", "sdk"];

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
      ...strykerArgs,
    ],
    { cwd: ROOT, stdio: "inherit", env: { ...process.env, MUTATE_FOLDER: folder } },
  );
  if (run.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
