import { defineConfig } from "vitest/config";

/**
 * The tests StrykerJS runs against each mutant (`npm run mutate`). A mutant lives only in the test
 * process, so suites whose checks run in other processes (CLI, launcher, lifecycle, the built
 * package, interop, Redis) cannot kill one and are left out; they would only slow the runs down.
 */
export default defineConfig({
  test: {
    include: ["test/unit/**/*.test.ts", "test/security/**/*.test.ts", "test/integration/**/*.test.ts", "test/store/memory.test.ts"],
    exclude: [
      "node_modules/**",
      "test/unit/package/**",
      "test/integration/cli/**",
      "test/integration/launcher/**",
      "test/integration/lifecycle/**",
      "test/integration/bench/**",
      "test/integration/examples/**",
      "test/integration/multihost/**",
    ],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    setupFiles: ["test/helpers/cleanup.setup.ts"],
  },
});
