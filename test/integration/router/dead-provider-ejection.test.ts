/**
 * Issue 20, case 1: a provider run by hand is killed -9 under load (default host options: no health
 * probe). Passive outlier ejection takes it out of rotation on its first failed call, so routed calls
 * succeed again at once: only the calls in flight at the kill (plus a handful) may fail.
 */
import { resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { killGroup, spawnGroup, waitForLine } from "../../helpers/processes.js";
import { bearer } from "../../helpers/transports.js";
import { clientFactory } from "./harness.js";

const FIXTURE = resolve(import.meta.dirname, "../../fixtures/dying-provider/server.mjs");
const KV = KVService.typeName;
/** Calls kept in flight at once. */
const CONCURRENCY = 8;

let t: TestHost | undefined;
const clients = clientFactory();
afterEach(async () => {
  clients.close();
  await t?.close();
  t = undefined;
});

async function providerProcess() {
  const child = spawnGroup(process.execPath, [FIXTURE]);
  const port = (await waitForLine(child, (l) => l.startsWith("listening "))).split(" ")[1];
  return { child, url: `http://127.0.0.1:${port}` };
}

describe("a provider run by hand, killed -9 (default config, no health probe)", () => {
  it("leaves rotation on its first failed call: the failures are the calls in flight at the kill and a handful", async () => {
    // Leases off: this is about ejection alone (these hand-run providers send no heartbeats).
    t = await startTestHost({ registrationLeaseMs: 0 });
    const doomed = await providerProcess();
    const healthy = await providerProcess();
    for (const [name, p] of [["doomed", doomed], ["healthy", healthy]] as const) {
      const rt = await t.handshake({ pluginName: name, baseUrl: p.url, provides: [{ type: KV, version: "1.0.0" }] });
      await t.clients("connect").registry.register({ serviceType: KV }, bearer(rt.token));
    }
    const consumer = await t.handshake({ pluginName: "consumer", requires: [{ type: KV, versionRange: "^1.0.0" }] });
    const kv = clients.client("connect", t.url, consumer.token);

    let phase: "before" | "after" = "before";
    const outcomes = { before: { ok: 0, failed: 0 }, after: { ok: 0, failed: 0 } };
    const codes = new Set<Code>();
    let stop = false;
    const worker = async () => {
      while (!stop) {
        const p = phase;
        try {
          await kv.get({ key: "a" });
          outcomes[p].ok++;
        } catch (e) {
          outcomes[p].failed++;
          codes.add(ConnectError.from(e).code);
        }
      }
    };
    const workers = Array.from({ length: CONCURRENCY }, worker);
    // Both providers serve first.
    while (outcomes.before.ok < 200) {
      if (outcomes.before.failed > 0) throw new Error(`calls failed before the kill: ${[...codes].join(",")}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(outcomes.before.failed).toBe(0);
    await killGroup(doomed.child);
    phase = "after";
    // 400 calls after the kill (a window of calls, not of time).
    while (outcomes.after.ok + outcomes.after.failed < 400) await new Promise((r) => setTimeout(r, 10));
    stop = true;
    await Promise.all(workers);
    await killGroup(healthy.child);

    // Without ejection about half of these fail (round robin keeps choosing the dead endpoint).
    // (Calls in flight at the kill count under "before": none had failed before it.)
    const failedSinceKill = outcomes.before.failed + outcomes.after.failed;
    expect(failedSinceKill, JSON.stringify(outcomes)).toBeLessThanOrEqual(CONCURRENCY + 5);
    expect([...codes].every((c) => c === Code.Unavailable), `codes: ${[...codes].join(",")}`).toBe(true);
    // The ejection is counted.
    const metrics = await t.host.metrics.registry.metrics();
    expect(metrics).toMatch(/plugboard_provider_ejections_total [1-9]/);
  });

  it("with outlierEjection: false, the safe retry alone sends calls refused by the dead endpoint to the other provider", async () => {
    t = await startTestHost({ outlierEjection: false, registrationLeaseMs: 0 });
    const doomed = await providerProcess();
    const healthy = await providerProcess();
    for (const [name, p] of [["doomed", doomed], ["healthy", healthy]] as const) {
      const rt = await t.handshake({ pluginName: name, baseUrl: p.url, provides: [{ type: KV, version: "1.0.0" }] });
      await t.clients("connect").registry.register({ serviceType: KV }, bearer(rt.token));
    }
    const consumer = await t.handshake({ pluginName: "consumer", requires: [{ type: KV, versionRange: "^1.0.0" }] });
    const kv = clients.client("connect", t.url, consumer.token);
    await killGroup(doomed.child);
    let failed = 0;
    for (let i = 0; i < 40; i++) await kv.get({ key: "a" }).catch(() => failed++);
    await killGroup(healthy.child);
    // Its connection is refused before any byte of a call reached it: each such call goes to the other provider.
    expect(failed).toBe(0);
  });
});
