import { describe, expect, it } from "vitest";
import { register } from "prom-client";
import { createHostMetrics } from "../../../src/metrics/index.js";
import { createMemoryStore } from "../../../src/store/memory.js";

const CALLER = { kind: "runtime", subject: "runtime:rt_1", method: "token", runtimeId: "rt_1", roles: [] } as const;

describe("host metrics", () => {
  it("caller-chosen service names cannot grow the registry without bound", async () => {
    const m = createHostMetrics({ store: createMemoryStore(), maxServiceLabels: 5 });
    for (let i = 0; i < 50; i++) {
      m.observeRoutedCall({ service: `made.up${i}.Svc`, method: "M", caller: undefined, code: "unauthenticated", durationMs: 1 });
      m.observeRoutedCall({ service: `made.up${i}.Svc`, method: "M", caller: CALLER, code: "permission_denied", durationMs: 1 });
    }
    // Forwarded calls prove their service is registered: those earn labels, up to the budget.
    for (let i = 0; i < 50; i++) {
      m.observeRoutedCall({ service: `real${i}.Svc`, method: "M", caller: CALLER, code: "ok", durationMs: 1, runtimeId: "rt_p" });
    }
    const { body } = await m.render();
    const services = new Set([...body.matchAll(/plugboard_routed_calls_total\{service="([^"]+)"/g)].map((x) => x[1]));
    expect(services.size).toBe(8); // 5 real names, "other", "unknown", "unregistered"
    expect(body).toContain('plugboard_routed_calls_total{service="unknown",code="unauthenticated"} 50');
    expect(body).toContain('plugboard_routed_calls_total{service="unregistered",code="permission_denied"} 50');
    expect(body).toContain('plugboard_routed_calls_total{service="other",code="ok"} 45');
    m.close();
  });

  it("a registered service keeps its own label for refused calls, even before any call reached it", async () => {
    const store = createMemoryStore();
    const m = createHostMetrics({ store, maxServiceLabels: 2, ownServices: ["host.v1.Own"] });
    await store.putRegistration({ registrationId: "rg_1", runtimeId: "rt_1", serviceType: "kv.v1.KV", version: "1.0.0", pluginName: "kv", endpoint: "http://127.0.0.1:1", metadata: {}, weight: 1, health: 1 });
    for (let i = 0; i < 10; i++) m.observeRoutedCall({ service: `made.up${i}.Svc`, method: "M", caller: CALLER, code: "not_found", durationMs: 1 });
    m.observeRoutedCall({ service: "kv.v1.KV", method: "Get", caller: CALLER, code: "resource_exhausted", durationMs: 1 });
    m.observeRoutedCall({ service: "host.v1.Own", method: "Get", caller: CALLER, code: "ok", durationMs: 1 });
    const { body } = await m.render();
    expect(body).toContain('plugboard_rate_limit_rejections_total{service="kv.v1.KV"} 1');
    expect(body).toContain('plugboard_routed_calls_total{service="host.v1.Own",code="ok"} 1');
    expect(body).toContain('plugboard_routed_calls_total{service="unregistered",code="not_found"} 10');
    m.close();
  });

  it("two hosts in one process keep separate registries, none in the global one", async () => {
    const a = createHostMetrics({ store: createMemoryStore() });
    const b = createHostMetrics({ store: createMemoryStore() });
    a.observeRoutedCall({ service: "kv.v1.KV", method: "Get", caller: CALLER, code: "ok", durationMs: 3, runtimeId: "rt_p" });
    expect((await a.render()).body).toContain('plugboard_routed_calls_total{service="kv.v1.KV",code="ok"} 1');
    expect((await b.render()).body).not.toContain('service="kv.v1.KV"');
    expect(await register.getSingleMetric("plugboard_routed_calls_total")).toBeUndefined();
  });

  it("routed-call and auth counts stay exact across scrapes (counted on the hot path, handed over at scrape time)", async () => {
    const m = createHostMetrics({ store: createMemoryStore() });
    const call = { service: "kv.v1.KV", method: "Get", caller: CALLER, code: "ok", durationMs: 3, runtimeId: "rt_p" };
    for (let i = 0; i < 3; i++) (m.observeRoutedCall(call), m.observeAuth("token", "success"));
    expect((await m.render()).body).toContain('plugboard_routed_calls_total{service="kv.v1.KV",code="ok"} 3');
    for (let i = 0; i < 2; i++) (m.observeRoutedCall(call), m.observeAuth("token", "success"));
    const { body } = await m.render();
    expect(body).toContain('plugboard_routed_calls_total{service="kv.v1.KV",code="ok"} 5');
    expect(body).toContain('plugboard_auth_attempts_total{method="token",result="success"} 5');
    expect(body).toContain('plugboard_routed_call_duration_seconds_count{service="kv.v1.KV",code="ok"} 5');
    expect((await m.render()).body).toContain('plugboard_routed_calls_total{service="kv.v1.KV",code="ok"} 5');
  });

  it("counts rate-limit refusals, auth attempts, grants and restarts", async () => {
    const m = createHostMetrics({ store: createMemoryStore(), ownServices: ["kv.v1.KV"] });
    m.observeRoutedCall({ service: "kv.v1.KV", method: "Get", caller: CALLER, code: "resource_exhausted", durationMs: 1 });
    m.observeAuth("token", "failure");
    m.observeAudit({ event: "grant.issue", outcome: "success", target: "hostlog.v1.Log#gr_1" });
    m.observeAudit({ event: "grant.issue", outcome: "failure", target: "hostlog.v1.Log" });
    m.pluginRestarts.inc({ plugin: "kv" });
    const { body, contentType } = await m.render();
    expect(contentType).toMatch(/^text\/plain/);
    expect(body).toContain('plugboard_rate_limit_rejections_total{service="kv.v1.KV"} 1');
    expect(body).toContain('plugboard_auth_attempts_total{method="token",result="failure"} 1');
    expect(body).toContain('plugboard_grants_issued_total{capability="hostlog.v1.Log"} 1');
    expect(body).toContain('plugboard_plugin_restarts_total{plugin="kv"} 1');
  });

  it("reads plugins, registrations and secret cache stats at scrape time", async () => {
    const store = createMemoryStore();
    let hits = 0;
    const m = createHostMetrics({
      store,
      secretCache: { stats: () => ({ hits, misses: 2, hitRate: 0, errors: 0, staleServed: 0, evictions: 0, size: 0 }) },
    });
    await store.putRuntime({
      runtimeId: "rt_1", pluginName: "kv", pluginVersion: "1.0.0", appProtocolVersion: "1.0.0", baseUrl: "http://127.0.0.1:1",
      provides: [], requires: [], secrets: [], capabilities: [], health: 1, healthMessage: "", healthReportedAt: 0,
      callerSigningKey: "", startedAt: 0, expiresAt: Date.now() + 60_000,
    });
    await store.putRegistration({ registrationId: "rg_1", runtimeId: "rt_1", serviceType: "kv.v1.KV", version: "1.0.0", pluginName: "kv", endpoint: "http://127.0.0.1:1", metadata: {}, weight: 1, health: 1 });
    hits = 5;
    const { body } = await m.render();
    expect(body).toContain('plugboard_active_plugins{health="healthy"} 1');
    expect(body).toContain('plugboard_active_plugins{health="unhealthy"} 0');
    expect(body).toContain('plugboard_registrations{service="kv.v1.KV"} 1');
    expect(body).toContain("plugboard_secret_cache_hits_total 5");
    expect(body).toContain("plugboard_secret_cache_misses_total 2");
  });
});
