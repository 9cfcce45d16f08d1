import { create } from "@bufbuild/protobuf";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Health, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from "../../../gen/grpc/health/v1/health_pb.js";
import { HealthState } from "../../../gen/plugboard/v1/common_pb.js";
import { createHealthProber, type HealthProber } from "../../../src/health/prober.js";
import type { StoreEvent } from "../../../src/store/types.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { bearer } from "../../helpers/transports.js";

const KV = "kv.v1.KVService";
type Mode = "serving" | "not_serving" | "no-health";

/** A provider's server whose grpc.health answer the test can change. */
async function startProvider(initial: Mode) {
  let mode = initial;
  const handler = connectNodeAdapter({
    routes(router) {
      if (mode !== "no-health")
        router.service(Health, {
          check: () =>
            create(HealthCheckResponseSchema, {
              status: mode === "serving" ? HealthCheckResponse_ServingStatus.SERVING : HealthCheckResponse_ServingStatus.NOT_SERVING,
            }),
        });
    },
  });
  const server = http2.createServer(handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => (sessions.add(s), s.once("close", () => sessions.delete(s))));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    set: (m: Mode) => (mode = m),
    close: () => new Promise<void>((resolve) => (server.close(() => resolve()), sessions.forEach((s) => s.destroy()))),
  };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const p = await startProvider("serving");
  await p.close();
  return p.port;
}

let t: TestHost | undefined;
let prober: HealthProber | undefined;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  prober?.stop();
  for (const c of cleanups.splice(0)) await c();
  await t?.close();
  t = undefined;
});

async function provider(name: string, port: number) {
  const p = await t!.handshake({ pluginName: name, baseUrl: `http://127.0.0.1:${port}`, provides: [{ type: KV, version: "1.0.0" }] });
  await t!.clients("connect").registry.register({ serviceType: KV }, bearer(p.token));
  return p;
}

const healthOf = async (runtimeId: string) => (await t!.host.store.getRuntime(runtimeId))!.health;

describe("health prober", () => {
  it("marks providers unhealthy only when the probe fails and their own report is stale; restores them", async () => {
    t = await startTestHost();
    const up = await startProvider("serving");
    const sick = await startProvider("not_serving");
    const silent = await startProvider("no-health");
    const fresh = await startProvider("not_serving");
    cleanups.push(up.close, sick.close, silent.close, fresh.close);
    const a = await provider("up", up.port);
    const b = await provider("sick", sick.port);
    const c = await provider("gone", await closedPort());
    const d = await provider("silent", silent.port);
    const e = await provider("fresh", fresh.port);
    const events: StoreEvent[] = [];
    const unsubscribe = t.host.store.subscribe((ev) => events.push(ev));
    cleanups.push(async () => unsubscribe());

    prober = createHealthProber({ store: t.host.store, staleAfterMs: 1_000, timeoutMs: 500 });
    // Reports are fresh: nothing is marked, whatever the probes say.
    const first = await prober.probeOnce();
    expect(Object.fromEntries(first)).toEqual({
      [a.runtimeId]: "serving",
      [b.runtimeId]: "failed",
      [c.runtimeId]: "failed",
      [d.runtimeId]: "unsupported",
      [e.runtimeId]: "failed",
    });
    for (const p of [a, b, c, d, e]) expect(await healthOf(p.runtimeId)).not.toBe(HealthState.UNHEALTHY);

    await new Promise((r) => setTimeout(r, 1_050));
    await t.clients("connect").lifecycle.reportHealth({ state: HealthState.HEALTHY, message: "fine" }, bearer(e.token));
    await prober.probeOnce();
    expect(await healthOf(b.runtimeId)).toBe(HealthState.UNHEALTHY);
    expect(await healthOf(c.runtimeId)).toBe(HealthState.UNHEALTHY);
    expect(await healthOf(a.runtimeId)).not.toBe(HealthState.UNHEALTHY);
    expect(await healthOf(d.runtimeId)).not.toBe(HealthState.UNHEALTHY); // judged by its reports alone
    expect(await healthOf(e.runtimeId)).toBe(HealthState.HEALTHY); // a fresh report outranks the probe
    expect(events.filter((ev) => ev.type === "updated").map((ev) => ev.registration.runtimeId).sort()).toEqual([b.runtimeId, c.runtimeId].sort());

    // The registry (and so the router) skips them now.
    const consumer = await t.handshake({ pluginName: "consumer" });
    const found = await t.clients("connect").registry.discover({ serviceType: KV }, bearer(consumer.token));
    expect(found.providers.map((p) => p.runtimeId).sort()).toEqual([a.runtimeId, d.runtimeId, e.runtimeId].sort());

    sick.set("serving");
    await prober.probeOnce();
    expect(await healthOf(b.runtimeId)).toBe(HealthState.HEALTHY);
    expect(await healthOf(c.runtimeId)).toBe(HealthState.UNHEALTHY);
  });

  it("probes on its interval once started", async () => {
    t = await startTestHost();
    const b = await provider("gone", await closedPort());
    prober = createHealthProber({ store: t.host.store, intervalMs: 50, staleAfterMs: 50, timeoutMs: 500 });
    prober.start();
    const deadline = Date.now() + 3_000;
    while ((await healthOf(b.runtimeId)) !== HealthState.UNHEALTHY && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    expect(await healthOf(b.runtimeId)).toBe(HealthState.UNHEALTHY);
  });

  it("tells onServing of each provider whose probe succeeded (an ejected provider comes back)", async () => {
    t = await startTestHost();
    const up = await startProvider("serving");
    const sick = await startProvider("not_serving");
    cleanups.push(up.close, sick.close);
    const a = await provider("up", up.port);
    await provider("sick", sick.port);
    const serving: string[] = [];
    prober = createHealthProber({ store: t.host.store, timeoutMs: 500, onServing: (id) => serving.push(id) });
    await prober.probeOnce();
    expect(serving).toEqual([a.runtimeId]);
  });

  it("validates its options", () => {
    expect(() => createHealthProber({ store: {} as never, intervalMs: 0 })).toThrow(/intervalMs/);
  });
});
