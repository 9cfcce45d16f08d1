import { afterEach, describe, expect, it } from "vitest";
import { fixtureSpec, NEVER_HANDSHAKE_FIXTURE, startLauncherHarness, type LauncherHarness } from "./harness.js";

const KV = "kv.v1.KVService";
let h: LauncherHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** The fixture plugin declares and registers kv.v1.KVService; these specs say nothing about it. */
const bare = (name: string, env: Record<string, string> = {}, extra = {}) => fixtureSpec(name, env, { readiness: undefined, ...extra });

describe("readiness comes from what the plugin declared under its launch secret", () => {
  it("a spec without provides/requires/readiness is ready once the plugin's declared services are registered", async () => {
    h = await startLauncherHarness();
    const status = await h.launcher.start(bare("kv"));
    expect(status.state).toBe("ready");
    const registered = await h.t.host.store.listRegistrations(KV);
    expect(registered.map((r) => r.runtimeId)).toEqual([status.runtimeId]);
  });

  it("a typo in the spec's provides does not hold readiness; it is logged as a likely typo", async () => {
    h = await startLauncherHarness();
    const status = await h.launcher.start(bare("kv", {}, { provides: ["kv.v1.KvService"] }));
    expect(status.state).toBe("ready");
    expect(h.logs).toContainEqual(
      expect.objectContaining({ plugin: "kv", specProvides: ["kv.v1.KvService"], declared: [KV], level: 40 }),
    );
  });

  it("a plugin that handshook but did not register: the error says it handshook and which service is missing", async () => {
    h = await startLauncherHarness();
    const start = h.launcher.start(bare("lazy", { FIXTURE_EXIT_AFTER_HANDSHAKE: "3" }, { restart: { policy: "never" } }));
    const error = (await start.catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(
      new RegExp(`^plugin lazy exited before it was ready \\(exit code 3\\): spawned as pid \\d+; handshook as rt_[\\w-]+ declaring ${KV}; did not register ${KV}$`),
    );
  });

  it("a plugin that never handshakes: the timeout says it was spawned and did not handshake", async () => {
    h = await startLauncherHarness();
    const start = h.launcher.start({ name: "mute", command: process.execPath, args: [NEVER_HANDSHAKE_FIXTURE], startTimeoutMs: 800 });
    const error = (await start.catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/^plugin mute did not become ready within 800 ms: spawned as pid \d+; did not handshake as mute/);
  });

  it("a plugin that exits first: the error gives its exit code and how far it got", async () => {
    h = await startLauncherHarness();
    const start = h.launcher.start({ name: "quitter", command: process.execPath, args: ["-e", "process.exit(3)"], restart: { policy: "never" } });
    const error = (await start.catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/^plugin quitter exited before it was ready \(exit code 3\): spawned as pid \d+; did not handshake as quitter/);
  });

  it("an explicit readiness.registrations naming a service the plugin does not declare says so", async () => {
    h = await startLauncherHarness();
    // It registers what it declared, then dies (its crash marker cannot be written): the error is reported at that exit.
    const start = h.launcher.start(
      bare("kv", { FIXTURE_CRASH_ONCE: "/nonexistent-dir/crash-marker" }, { restart: { policy: "never" }, readiness: { registrations: ["kv.v1.KvService"] } }),
    );
    const error = (await start.catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(
      /\(exit code 1\): spawned as pid \d+; handshook as rt_[\w-]+ declaring kv\.v1\.KVService; registered kv\.v1\.KVService; did not register kv\.v1\.KvService; readiness\.registrations names kv\.v1\.KvService, which the plugin does not declare$/,
    );
  });
});
