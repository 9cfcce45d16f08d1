// @ts-check
/**
 * Mutation testing of the security-critical folders (docs/testing.md). Not part of `npm test` or CI:
 * run `npm run mutate` (every folder) or `npm run mutate -- tokens` (one), see scripts/mutate.mjs.
 * scripts/mutate.mjs names the key in MUTATE_FOLDER and its files in MUTATE_GLOBS (comma-separated; default
 * every `.ts` file under `src/<key>`); each key has its own incremental file and report.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
const folder = process.env["MUTATE_FOLDER"];
const globs = process.env["MUTATE_GLOBS"]?.split(",") ?? (folder ? [`src/${folder}/**/*.ts`] : undefined);

export default {
  ...(globs ? { mutate: globs } : {}),
  testRunner: "vitest",
  vitest: { configFile: "vitest.mutate.config.ts", related: true },
  // Each mutant runs only the tests that executed it in the dry run.
  coverageAnalysis: "perTest",
  // The machine is shared: one test process at a time.
  concurrency: 1,
  // Mutants of a folder already tested, in unchanged code against unchanged tests, are not run again.
  incremental: true,
  incrementalFile: `reports/mutation/${folder ?? "all"}.incremental.json`,
  ignoreStatic: true,
  // TypeScript 7 has no JavaScript compiler API, which Stryker's tsconfig rewriting and its
  // typescript-checker need: name no tsconfig (ours has no paths outside the sandbox to rewrite),
  // and let mutants that do not type-check be killed or reviewed like any other.
  tsconfigFile: "tsconfig.stryker-none.json",
  timeoutMS: 20_000,
  reporters: ["clear-text", "progress", "json"],
  jsonReporter: { fileName: `reports/mutation/${folder ?? "all"}.json` },
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
  ignorePatterns: ["dist", "reports", "coverage", ".vitest-results.json"],
};
