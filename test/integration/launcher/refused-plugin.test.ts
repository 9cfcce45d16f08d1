import { afterEach, expect, it } from "vitest";
import { REPO_ROOT, startLauncherHarness, type LauncherHarness } from "./harness.js";

let h: LauncherHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

it("a plugin the host refuses (runPlugin exits 2) fails at once: no crash loop, its one-line reason in the host's log", async () => {
  const failures: string[] = [];
  h = await startLauncherHarness({ onFailure: (e) => failures.push(`${e.name} ${e.state}`) });
  const start = h.launcher.start({
    name: "kv-provider",
    command: process.execPath,
    args: ["--import", "tsx", "examples/kv-provider/main.ts"],
    cwd: REPO_ROOT,
    // The harness host's cookie key with the wrong value: the handshake is refused.
    env: { PLUGBOARD_COOKIE_KEY: "PLUGBOARD_TEST", PLUGBOARD_COOKIE_VALUE: "not-the-hosts" },
  });
  const error = (await start.catch((e: unknown) => e)) as Error;
  expect(error.message).toMatch(/^plugin kv-provider exited before it was ready \(exit code 2\): spawned as pid \d+; did not handshake/);
  expect(h.launcher.list()[0]).toMatchObject({ state: "failed", restarts: 0 });
  expect(failures).toEqual(["kv-provider failed"]);
  const stderr = h.logs.filter((r) => r.plugin === "kv-provider" && r.stream === "stderr").map((r) => r.msg);
  expect(stderr).toEqual([expect.stringMatching(/^plugin kv-provider failed to start: magic cookie mismatch/)]);
});
