import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["node_modules/**"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    // Builds dist/, gives the run one temp dir, and fails the run if a process or temp file is left behind.
    globalSetup: ["test/global-setup.ts"],
    // Kills the process groups and removes the temp dirs a test file made through test/helpers, even after a failure.
    setupFiles: ["test/helpers/cleanup.setup.ts"],
  },
});
