import { afterEach, describe, expect, it } from "vitest";
import { bearer } from "../../helpers/transports.js";
import { fixtureSpec, startLauncherHarness, waitFor, type LauncherHarness } from "./harness.js";

let h: LauncherHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Median latency of `n` sequential host RPCs, in ms. */
async function medianLatency(call: () => Promise<unknown>, n = 40): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(n / 2)]!;
}

describe.each(["lines", "noline"])("a plugin flooding stdout (%s)", (mode) => {
  it("does not block the host: RPC latency stays near the baseline, output is capped", async () => {
    h = await startLauncherHarness({ output: { maxLinesPerSecond: 100, maxLineBytes: 1024 } });
    const consumer = await h.t.handshake({ pluginName: "consumer", launchSecret: h.t.host.issueLaunchSecret("consumer") });
    const { registry } = h.t.clients("connect");
    const discover = () => registry.discover({ serviceType: "kv.v1.KVService" }, bearer(consumer.token));
    await medianLatency(discover, 10); // warm-up
    const baseline = await medianLatency(discover);

    const heapBefore = process.memoryUsage().heapUsed;
    const status = await h.launcher.start(fixtureSpec("flood", { FIXTURE_FLOOD: mode }));
    await waitFor("flood output", () => h!.logs.filter((r) => r.plugin === "flood" && r.stream === "stdout").length > (mode === "lines" ? 10 : 0));
    const during = await medianLatency(discover);
    console.log(`flood ${mode}: baseline ${baseline.toFixed(2)} ms, during ${during.toFixed(2)} ms`);
    const heapGrowthMb = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;

    // Generous: a loaded 2-core machine; a blocked event loop would be orders of magnitude slower.
    expect(during).toBeLessThan(Math.max(baseline * 10, baseline + 25));
    expect(heapGrowthMb).toBeLessThan(200);
    const lines = h.logs.filter((r) => r.plugin === "flood" && r.stream === "stdout");
    expect(lines.every((r) => String(r.msg).length <= 1024)).toBe(true);
    if (mode === "noline") expect(lines.some((r) => r.truncated === true)).toBe(true);
    expect(h.launcher.list()[0]).toMatchObject({ state: "ready", pid: status.pid });
  });
});
