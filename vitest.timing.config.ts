import { defineConfig } from "vitest/config";

/** Opt-in statistical timing checks (`npm run test:timing`): slow and sensitive to machine load, so never in `npm test`. */
export default defineConfig({
  test: {
    include: ["test/**/*.optin.test.ts"],
    testTimeout: 300_000,
    pool: "forks",
    fileParallelism: false,
  },
});
