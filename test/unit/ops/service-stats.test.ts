import { describe, expect, it } from "vitest";
import { createHostMetrics } from "../../../src/metrics/host-metrics.js";
import { createMemoryStore } from "../../../src/store/memory.js";
import { grantStats, serviceStats } from "../../../src/ops/service-stats.js";
import type { Identity } from "../../../src/identity/identity.js";

const caller: Identity = { kind: "runtime", subject: "runtime:a", method: "token", roles: [] };

describe("dashboard service stats from the host's registry", () => {
  it("totals calls and errors per service; mean and the p95 bucket from the histogram", async () => {
    const store = createMemoryStore();
    // Labels name only known services (registered or the host's own).
    const metrics = createHostMetrics({ store, processMetrics: false, ownServices: ["kv.v1.KVService"] });
    // 19 fast calls (under 1 ms) and one slow failure (2 s): the 95th percentile (the 19th of 20) is in the 1 ms bucket.
    for (let i = 0; i < 19; i++) metrics.observeRoutedCall({ service: "kv.v1.KVService", method: "Get", caller, code: "ok", durationMs: 0.8 });
    metrics.observeRoutedCall({ service: "kv.v1.KVService", method: "Get", caller, code: "unavailable", durationMs: 2000 });
    metrics.observeAudit({ event: "grant.issue", outcome: "success", target: "log.v1.LogService#g1" });
    const [kv] = await serviceStats(metrics.registry);
    expect(kv).toMatchObject({ service: "kv.v1.KVService", calls: 20, errors: 1 });
    expect(kv!.meanMs).toBeCloseTo((19 * 0.8 + 2000) / 20, 5);
    expect(kv!.p95Ms).toBe(1);
    expect(await grantStats(metrics.registry)).toEqual([{ capability: "log.v1.LogService", issued: 1 }]);
    await store.close();
  });

  it("no calls: no rows", async () => {
    const store = createMemoryStore();
    expect(await serviceStats(createHostMetrics({ store }).registry)).toEqual([]);
    await store.close();
  });
});
