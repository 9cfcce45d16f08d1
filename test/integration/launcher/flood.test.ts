import { afterEach, describe, expect, it } from "vitest";
import { bearer } from "../../helpers/transports.js";
import { fixtureSpec, startLauncherHarness, waitFor, type LauncherHarness } from "./harness.js";

let h: LauncherHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe.each(["lines", "noline"])("a plugin flooding stdout (%s)", (mode) => {
  it("does not block the host: its RPCs keep answering during the flood, output is capped", async () => {
    h = await startLauncherHarness({ output: { maxLinesPerSecond: 100, maxLineBytes: 1024 } });
    const consumer = await h.t.handshake({ pluginName: "consumer", launchSecret: h.t.host.issueLaunchSecret("consumer") });
    const { registry } = h.t.clients("connect");
    // A generous per-call deadline: an event loop blocked by the flood would miss it by far.
    const discover = () => registry.discover({ serviceType: "kv.v1.KVService" }, { ...bearer(consumer.token), timeoutMs: 5_000 });

    const status = await h.launcher.start(fixtureSpec("flood", { FIXTURE_FLOOD: mode }));
    await waitFor("flood output", () => h!.logs.filter((r) => r.plugin === "flood" && r.stream === "stdout").length > (mode === "lines" ? 10 : 0));
    for (let i = 0; i < 40; i++) await discover();
    const lines = h.logs.filter((r) => r.plugin === "flood" && r.stream === "stdout");
    expect(lines.every((r) => String(r.msg).length <= 1024)).toBe(true);
    if (mode === "noline") expect(lines.some((r) => r.truncated === true)).toBe(true);
    expect(h.launcher.list()[0]).toMatchObject({ state: "ready", pid: status.pid });
  });
});
