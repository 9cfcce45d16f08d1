import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { HealthState, Protocol as ServedProtocol } from "../../../gen/plugboard/v1/common_pb.js";
import { SelectionStrategy, WatchEventType } from "../../../gen/plugboard/v1/registry_pb.js";
import { LogService } from "../../../gen/hostlog/v1/hostlog_pb.js";
import { createLogCapability } from "../../../examples/logger-capability/log-service.js";
import { silentLogger } from "../../../src/log/logger.js";
import { createKvService } from "../../../examples/kv-provider/kv-service.js";
import { createPlugin, provide, type Plugin } from "../../../src/sdk/index.js";
import type { PluginHostOptions } from "../../../src/host/options.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { createCountingProvider } from "../../unit/secrets/fake-provider.js";
import { enrolled, eventually, kvConsumer, pluginOptions, text } from "./harness.js";

/** What the host's own services received: method, content-type (the protocol) and, for unary calls, the message. */
interface Seen {
  method: string;
  contentType: string | null;
  message: Record<string, unknown> | undefined;
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  closers.length = 0;
});

async function recordingHost(
  options: Partial<PluginHostOptions> = {},
  port?: number,
  onCall?: (method: string) => Promise<void>,
): Promise<{ t: TestHost; seen: Seen[] }> {
  const seen: Seen[] = [];
  const record: Interceptor = (next) => async (req) => {
    await onCall?.(req.method.name);
    seen.push({
      method: req.method.name,
      contentType: req.header.get("content-type"),
      message: req.stream ? undefined : (req.message as unknown as Record<string, unknown>),
    });
    return next(req);
  };
  const t = await startTestHost({ interceptors: [record], ...options }, port === undefined ? {} : { port });
  closers.push(() => t.close());
  return { t, seen };
}

async function started(p: Plugin): Promise<Plugin> {
  await p.start();
  closers.push(() => p.stop());
  return p;
}

describe("createPlugin: what reaches the host", () => {
  it("the plugin's own calls (handshake, register, heartbeat) speak Connect", async () => {
    const { t, seen } = await recordingHost();
    await started(
      createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "kv-provider")), name: "kv-provider", provides: [provide(KVService, createKvService())], heartbeatMs: 50 })),
    );
    await eventually(() => seen.some((s) => s.method === "Heartbeat"));
    for (const method of ["Handshake", "Register", "Heartbeat"]) {
      const calls = seen.filter((s) => s.method === method);
      expect(calls.length, method).toBeGreaterThan(0);
      expect(new Set(calls.map((c) => c.contentType)), method).toEqual(new Set(["application/proto"]));
    }
  });

  it("a provided service registers with its own version, metadata and weight, else the plugin's version, no metadata, weight 0", async () => {
    const { t, seen } = await recordingHost();
    const own = { version: "1.4.2", metadata: { zone: "eu-1" }, weight: 7 };
    await started(
      createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "tuned")), name: "tuned", version: "1.0.0", provides: [provide(KVService, createKvService(), own)] })),
    );
    await started(createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "plain")), name: "plain", version: "1.3.0", provides: [provide(KVService, createKvService())] })));
    const registers = seen.filter((s) => s.method === "Register").map((s) => s.message!);
    expect(registers).toHaveLength(2);
    expect(registers[0]).toMatchObject({ serviceType: KVService.typeName, version: "1.4.2", metadata: { zone: "eu-1" }, weight: 7 });
    expect(registers[1]).toMatchObject({ serviceType: KVService.typeName, version: "1.3.0", metadata: {}, weight: 0 });
    for (const r of registers) {
      expect(r["protocols"]).toEqual([ServedProtocol.GRPC, ServedProtocol.GRPC_WEB, ServedProtocol.CONNECT]);
      expect((r["fileDescriptorSet"] as Uint8Array).length).toBeGreaterThan(0);
    }
    const consumer = await started(kvConsumer(t.url, await enrolled(t, "consumer")));
    const found = await consumer.discover(KVService);
    expect(found.providers.map((p) => [p.version, p.metadata, p.weight]).sort()).toEqual([
      ["1.3.0", {}, 0],
      ["1.4.2", { zone: "eu-1" }, 7],
    ]);
  });

  it("stop() unregisters what start() registered", async () => {
    const { t, seen } = await recordingHost();
    const provider = createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "kv-provider")), name: "kv-provider", provides: [provide(KVService, createKvService())] }));
    await provider.start();
    const consumer = await started(kvConsumer(t.url, await enrolled(t, "consumer")));
    const [registered] = (await consumer.discover(KVService)).providers.map((p) => p.registrationId);
    expect(registered).toBeDefined();
    await Promise.all([provider.stop(), provider.stop()]);
    await provider.stop();
    expect(seen.filter((s) => s.method === "Unregister").map((s) => s.message!["registrationId"])).toEqual([registered]);
    expect((await consumer.discover(KVService)).providers).toHaveLength(0);
  });

  it("a declared secret arrives through the host's watch: onSecretChange sees it, secret() needs no extra call", async () => {
    const provider = createCountingProvider({ "db-password": "hunter2" });
    const { t, seen } = await recordingHost({ secrets: { provider, watch: { refreshIntervalMs: 50 } } });
    const plugin = createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "needs-secrets")), name: "needs-secrets", secrets: [{ name: "db-password" }], secretGraceMs: 600_000 }));
    const changes: string[] = [];
    plugin.onSecretChange("db-password", (c) => changes.push(text(c.current.value)));
    await started(plugin);
    await eventually(() => changes.length > 0);
    expect(changes).toEqual(["hunter2"]);
    expect(text(await plugin.secret("db-password"))).toBe("hunter2");
    expect(seen.filter((s) => s.method === "GetSecrets")).toHaveLength(0);
    expect(seen.filter((s) => s.method === "WatchSecrets").length).toBeGreaterThan(0);
    expect(plugin.previousSecret("db-password")).toBeUndefined();
    // A rotation: the new value arrives through the watch, the old one stays readable for the grace period.
    provider.values.set("db-password", "correct horse");
    await eventually(() => changes.length > 1);
    expect(changes).toEqual(["hunter2", "correct horse"]);
    expect(text(plugin.previousSecret("db-password")!)).toBe("hunter2");
  });

  it("a host that forgot the runtime: the provider handshakes again and registers its services under the new runtime", async () => {
    const { t, seen } = await recordingHost();
    const provider = await started(
      createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "kv-provider")), name: "kv-provider", provides: [provide(KVService, createKvService())], heartbeatMs: 50 })),
    );
    const firstRuntime = provider.runtimeId;
    expect(await t.host.store.removeRuntime(firstRuntime, "revoked")).toBe(true);
    await eventually(() => seen.filter((s) => s.method === "Register").length === 2, 15_000);
    expect(provider.runtimeId).not.toBe(firstRuntime);
    const consumer = await started(kvConsumer(t.url, await enrolled(t, "consumer")));
    const found = await consumer.discover(KVService);
    expect(found.providers.map((p) => p.runtimeId)).toEqual([provider.runtimeId]);
    // A few more beats: nothing registered twice.
    const beats = seen.filter((s) => s.method === "Heartbeat").length;
    await eventually(() => seen.filter((s) => s.method === "Heartbeat").length >= beats + 3);
    expect(seen.filter((s) => s.method === "Register")).toHaveLength(2);
  });
});

const codeOf = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => ConnectError.from(e));

describe("createPlugin: what a plugin author calls", () => {
  it("client(): the chosen protocol and transport options, the caller's interceptors, and a pin to one provider", async () => {
    const { t } = await recordingHost();
    const calls = { a: 0, b: 0 };
    const a = await started(createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "kv-a")), name: "kv-a", provides: [provide(KVService, createKvService("a", { onCall: () => calls.a++ }))] })));
    await started(createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "kv-b")), name: "kv-b", provides: [provide(KVService, createKvService("b", { onCall: () => calls.b++ }))] })));
    const consumer = await started(kvConsumer(t.url, await enrolled(t, "consumer")));
    const sent: (string | null)[] = [];
    const record: Interceptor = (next) => (req) => {
      sent.push(req.header.get("content-type"));
      return next(req);
    };
    for (const [options, contentType] of [
      [{}, "application/proto"],
      [{ protocol: "grpc" }, "application/grpc+proto"],
      [{ protocol: "grpc-web" }, "application/grpc-web+proto"],
      [{ useBinaryFormat: false }, "application/json"],
    ] as const) {
      sent.length = 0;
      const kv = consumer.client(KVService, { ...options, interceptors: [record] });
      expect((await kv.get({ key: "k" })).found).toBe(false);
      expect(sent).toEqual([contentType]);
    }
    const pinned = consumer.client(KVService, { pin: a.runtimeId });
    calls.a = calls.b = 0;
    for (let i = 0; i < 6; i++) await pinned.get({ key: "k" });
    expect(calls).toEqual({ a: 6, b: 0 });
  });

  it("discover() passes its filters; reportHealth() reaches the host with its message", async () => {
    const { t, seen } = await recordingHost();
    const provider = await started(createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "kv-provider")), name: "kv-provider", provides: [provide(KVService, createKvService())] })));
    const consumer = await started(kvConsumer(t.url, await enrolled(t, "consumer")));
    expect((await consumer.discover(KVService)).providers).toHaveLength(1);
    expect((await consumer.discover(KVService, { versionRange: "^2.0.0" })).providers).toHaveLength(0);
    await consumer.discover(KVService, { strategy: SelectionStrategy.WEIGHTED });
    expect(seen.filter((s) => s.method === "Discover").map((s) => s.message!["strategy"])).toEqual([
      SelectionStrategy.UNSPECIFIED,
      SelectionStrategy.UNSPECIFIED,
      SelectionStrategy.WEIGHTED,
    ]);
    await provider.reportHealth("unhealthy", "disk full");
    expect(seen.filter((s) => s.method === "ReportHealth").at(-1)!.message).toMatchObject({ state: HealthState.UNHEALTHY, message: "disk full" });
    expect((await consumer.discover(KVService)).providers).toHaveLength(0);
    const all = await consumer.discover(KVService, { includeUnhealthy: true });
    expect(all.providers.map((p) => p.health)).toEqual([HealthState.UNHEALTHY]);
    expect(all.nextPageToken).toBe("");
    await provider.reportHealth("healthy");
    expect(seen.filter((s) => s.method === "ReportHealth").at(-1)!.message).toMatchObject({ state: HealthState.HEALTHY, message: "" });
  });

  it("watch() streams the service's registrations until its signal aborts", async () => {
    const { t } = await recordingHost();
    const provider = await started(createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "kv-provider")), name: "kv-provider", provides: [provide(KVService, createKvService())] })));
    // Another service's provider: not in a KVService watch.
    await started(createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "log-provider")), name: "log-provider", provides: [provide(LogService, { write: () => ({}) })] })));
    const consumer = await started(kvConsumer(t.url, await enrolled(t, "consumer")));
    const watching = new AbortController();
    const events: WatchEventType[] = [];
    let runtimes: string[] = [];
    const ended = (async () => {
      for await (const e of consumer.watch(KVService, { signal: watching.signal })) {
        events.push(e.type);
        if (e.type === WatchEventType.SNAPSHOT) runtimes = e.registrations.map((r) => r.runtimeId);
      }
    })().then(() => "ended", (e: unknown) => ConnectError.from(e).code);
    await eventually(() => events.length > 0);
    expect(events[0]).toBe(WatchEventType.SNAPSHOT);
    expect(runtimes).toEqual([provider.runtimeId]);
    watching.abort();
    expect(await ended).toBe(Code.Canceled);
  });

  it("secret(): an undeclared name asks the host and is refused; a host without secrets says so", async () => {
    const { t, seen } = await recordingHost({ secrets: { provider: createCountingProvider({ "db-password": "hunter2" }) } });
    const plugin = await started(createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "needs-secrets")), name: "needs-secrets", secrets: [{ name: "db-password" }] })));
    const err = await codeOf(plugin.secret("undeclared"));
    expect(err?.code).toBe(Code.PermissionDenied);
    expect(err?.rawMessage).not.toMatch(/does not serve secrets/);
    expect(seen.filter((s) => s.method === "GetSecrets").map((s) => s.message?.["names"])).toEqual([["undeclared"]]);

    const bare = await recordingHost();
    const other = await started(createPlugin(pluginOptions(bare.t.url, { ...(await enrolled(bare.t, "needs-secrets")), name: "needs-secrets", secrets: [{ name: "db-password", optional: true }] })));
    const none = await codeOf(other.secret("db-password"));
    expect(none?.code).toBe(Code.Unimplemented);
    expect(none?.rawMessage).toBe("this host does not serve secrets (plugboard.v1.SecretsService)");
  });

  it("the plugin's state: calls before start() and after stop() are FailedPrecondition; start() runs once", async () => {
    const { t, seen } = await recordingHost();
    const plugin = createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "consumer")), name: "consumer", secrets: [] }));
    for (const call of [plugin.discover(KVService), plugin.reportHealth("healthy"), plugin.secret("x"), plugin.capability(KVService)]) {
      const err = await codeOf(call);
      expect(err?.code).toBe(Code.FailedPrecondition);
      expect(err?.rawMessage).toBe("plugin is new");
    }
    expect(() => plugin.watch(KVService)).toThrow("plugin is new");
    expect(plugin.runtimeId).toBe("");
    expect(plugin.url).toBe("");
    await plugin.start();
    expect(plugin.runtimeId).not.toBe("");
    await plugin.discover(KVService); // a round trip after start(): a secret watch would have been opened before it
    expect(seen.map((s) => s.method)).not.toContain("WatchSecrets");
    await expect(plugin.start()).rejects.toThrow("createPlugin: start() called when running");
    await plugin.stop();
    await plugin.stop(); // a second stop is a no-op
    const err = await codeOf(plugin.discover(KVService));
    expect(err?.rawMessage).toBe("plugin is stopped");
    await expect(plugin.start()).rejects.toThrow("createPlugin: start() called when stopped");
  });
});

/** A logger whose lines (parsed) land in `lines`. */
function capturingLogger(lines: Record<string, unknown>[]) {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return pino({ level: "debug" }, sink);
}

describe("createPlugin: heartbeats, dependencies, signals, logs and a failed start", () => {
  it("heartbeats come at a third of the host's lease when that is sooner than heartbeatMs, and keep the registration", async () => {
    const { t, seen } = await recordingHost({ registrationLeaseMs: 900 });
    await started(
      createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "kv-provider")), name: "kv-provider", provides: [provide(KVService, createKvService())], heartbeatMs: 600_000 })),
    );
    await eventually(() => seen.filter((s) => s.method === "Heartbeat").length >= 4, 10_000);
    const consumer = await started(kvConsumer(t.url, await enrolled(t, "consumer")));
    expect((await consumer.discover(KVService)).providers).toHaveLength(1);
  });

  it("no heartbeats from a plugin that provides nothing, nor with heartbeatMs 0 (a provider beating every 50 ms meanwhile beat 3 times)", async () => {
    const quiet = await recordingHost();
    const clock = await recordingHost();
    await started(createPlugin(pluginOptions(quiet.t.url, { ...(await enrolled(quiet.t, "consumer")), name: "consumer", heartbeatMs: 50 })));
    await started(createPlugin(pluginOptions(quiet.t.url, { ...(await enrolled(quiet.t, "kv-provider")), name: "kv-provider", provides: [provide(KVService, createKvService())], heartbeatMs: 0 })));
    // Without a host lease, heartbeatMs alone sets the pace (here far beyond the test).
    await started(createPlugin(pluginOptions(quiet.t.url, { ...(await enrolled(quiet.t, "slow")), name: "slow", provides: [provide(KVService, createKvService())], heartbeatMs: 600_000 })));
    await started(createPlugin(pluginOptions(clock.t.url, { ...(await enrolled(clock.t, "kv-provider")), name: "kv-provider", provides: [provide(KVService, createKvService())], heartbeatMs: 50 })));
    await eventually(() => clock.seen.filter((s) => s.method === "Heartbeat").length >= 3);
    expect(quiet.seen.filter((s) => s.method === "Heartbeat")).toHaveLength(0);
  });

  it("a heartbeat answering fewer registrations than made re-registers what the host lost", async () => {
    const { t, seen } = await recordingHost();
    await started(
      createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "kv-provider")), name: "kv-provider", provides: [provide(KVService, createKvService())], heartbeatMs: 50 })),
    );
    const consumer = await started(kvConsumer(t.url, await enrolled(t, "consumer")));
    const [lost] = (await consumer.discover(KVService)).providers;
    expect(await t.host.store.removeRegistration(lost!.registrationId, "expired")).toBeDefined();
    await eventually(() => seen.filter((s) => s.method === "Register").length === 2);
    const now = (await consumer.discover(KVService)).providers;
    expect(now).toHaveLength(1);
    expect(now[0]!.registrationId).not.toBe(lost!.registrationId);
  });

  it("a required dependency losing its provider makes the plugin DEGRADED, and HEALTHY again", async () => {
    const { t } = await recordingHost();
    const first = await started(createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "kv-provider")), name: "kv-provider", provides: [provide(KVService, createKvService())] })));
    const consumer = await started(kvConsumer(t.url, await enrolled(t, "consumer")));
    const health = async () => (await t.host.store.getRuntime(consumer.runtimeId))?.health;
    await eventually(async () => (await health()) === HealthState.HEALTHY);
    await first.stop();
    await eventually(async () => (await health()) === HealthState.DEGRADED);
    await started(createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "kv-provider")), name: "kv-provider", provides: [provide(KVService, createKvService())] })));
    await eventually(async () => (await health()) === HealthState.HEALTHY);
  });

  it("a calling plugin is 'starting' until its services are registered", async () => {
    let plugin: Plugin | undefined;
    const during: (string | undefined)[] = [];
    const { t } = await recordingHost({}, undefined, async (method) => {
      if (method === "Register") during.push((await codeOf(plugin!.discover(KVService)))?.rawMessage);
    });
    plugin = createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "kv-provider")), name: "kv-provider", provides: [provide(KVService, createKvService())] }));
    await started(plugin);
    expect(during).toEqual(["plugin is starting"]);
    expect(plugin.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it("a failed start() rejects with the host's refusal and leaves the plugin stopped; a consumer serves nothing", async () => {
    const { t } = await recordingHost();
    const refused = createPlugin(pluginOptions(t.url, { name: "consumer", enrolmentToken: "not-a-token" }));
    const err = await codeOf(refused.start());
    expect(err).toBeInstanceOf(ConnectError);
    expect(err?.code).not.toBe(Code.Unknown);
    await expect(refused.start()).rejects.toThrow("createPlugin: start() called when stopped");
    const consumer = await started(kvConsumer(t.url, await enrolled(t, "consumer")));
    expect(consumer.url).toBe("");
  });

  it("logs: plain text off loopback (warned even when the host then refuses it), registered, started, stopped", async () => {
    const { t } = await recordingHost();
    const warned: Record<string, unknown>[] = [];
    const offLoopback = createPlugin(
      pluginOptions(t.url, { ...(await enrolled(t, "kv-provider")), name: "kv-provider", provides: [provide(KVService, createKvService())], listen: { hostname: "0.0.0.0" }, logger: capturingLogger(warned) }),
    );
    expect((await codeOf(offLoopback.start()))?.code).toBe(Code.InvalidArgument);
    expect(warned.map((l) => l["msg"])).toContain("serving plain-text h2c off loopback: routed calls travel unencrypted; configure listen.tls");
    const consumerLines: Record<string, unknown>[] = [];
    const consumer = await started(
      createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "consumer")), name: "consumer", listen: { hostname: "0.0.0.0" }, logger: capturingLogger(consumerLines) })),
    );
    expect(consumer.url).toBe("");
    expect(consumerLines.map((l) => String(l["msg"])).filter((m) => m.includes("plain"))).toEqual([]);

    const lines: Record<string, unknown>[] = [];
    const plugin = createPlugin(
      pluginOptions(t.url, { ...(await enrolled(t, "kv-provider")), name: "kv-provider", provides: [provide(KVService, createKvService())], logger: capturingLogger(lines) }),
    );
    await plugin.start();
    await Promise.all([plugin.stop(), plugin.stop()]);
    await plugin.stop();
    const msgs = lines.map((l) => l["msg"]);
    expect(msgs.filter((m) => m === "plugin stopped")).toHaveLength(1);
    expect(msgs).not.toContain("in-flight calls did not finish in time");
    expect(msgs.filter((m) => String(m).includes("plain"))).toEqual([]);
    expect(lines.find((l) => l["msg"] === "plugin registered")).toMatchObject({ runtimeId: expect.any(String), services: [KVService.typeName] });
    expect(lines.find((l) => l["msg"] === "plugin started")).toMatchObject({ runtimeId: expect.any(String), url: expect.stringMatching(/^http:/) });
    expect(msgs.at(-1)).toBe("plugin stopped");
  });

  it("shutdown signals: a handler while running, removed by stop(); the signal stops the plugin once, then exits 0", async () => {
    const { t } = await recordingHost();
    const before = process.listeners("SIGUSR2");
    const plugin = createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "consumer")), name: "consumer", shutdownSignals: ["SIGUSR2"] }));
    await plugin.start();
    expect(process.listeners("SIGUSR2")).toHaveLength(before.length + 1);
    await plugin.stop();
    expect(process.listeners("SIGUSR2")).toEqual(before);

    const exit = vi.spyOn(process, "exit").mockImplementation((() => undefined) as never);
    const lines: Record<string, unknown>[] = [];
    const signalled = createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "consumer")), name: "consumer", shutdownSignals: ["SIGUSR2"], logger: capturingLogger(lines) }));
    await signalled.start();
    const ours = process.listeners("SIGUSR2").filter((l) => !before.includes(l));
    try {
      expect(ours).toHaveLength(1);
      process.emit("SIGUSR2");
      // While it stops, its handler stays: a second signal must not fall back to the default action (exit mid-drain).
      expect(process.listeners("SIGUSR2")).toEqual(expect.arrayContaining(ours));
      process.emit("SIGUSR2");
      await eventually(() => exit.mock.calls.length > 0);
      expect(lines.filter((l) => l["msg"] === "stopping plugin")).toEqual([expect.objectContaining({ signal: "SIGUSR2" })]);
      expect(exit.mock.calls).toEqual([[0]]);
      expect((await codeOf(signalled.discover(KVService)))?.rawMessage).toBe("plugin is stopped");
    } finally {
      exit.mockRestore();
      for (const l of ours) process.off("SIGUSR2", l as () => void);
    }
  });
});

describe("createPlugin: per-client retry and breaker, capabilities, draining stop", () => {
  it("a client's own retry and circuit breaker apply when the plugin has none", async () => {
    const { t } = await recordingHost();
    let failures = 0;
    let calls = 0;
    const flaky = {
      get: () => {
        calls++;
        if (failures-- > 0) throw new ConnectError("busy", Code.Unavailable);
        return { found: true };
      },
    };
    await started(createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "kv-provider")), name: "kv-provider", provides: [provide(KVService, flaky)] })));
    const consumer = await started(kvConsumer(t.url, await enrolled(t, "consumer")));

    failures = 1;
    expect((await codeOf(consumer.client(KVService).get({ key: "k" })))?.code).toBe(Code.Unavailable);
    failures = 1;
    expect((await consumer.client(KVService, { retry: { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 5 } }).get({ key: "k" })).found).toBe(true);

    const guarded = consumer.client(KVService, { circuitBreaker: { failureThreshold: 1, cooldownMs: 600_000 } });
    failures = 1;
    expect((await codeOf(guarded.get({ key: "k" })))?.code).toBe(Code.Unavailable);
    calls = 0;
    expect((await codeOf(guarded.get({ key: "k" })))?.code).toBe(Code.Unavailable);
    expect(calls).toBe(0); // the open breaker refused it
  });

  it("capability(): a service the host offers works over the chosen protocol; one it does not is refused before any call", async () => {
    const written: string[] = [];
    const { t, seen } = await recordingHost({ capabilities: [createLogCapability(silentLogger(), (l) => written.push(l.message))] });
    const plugin = await started(createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "logging-plugin")), name: "logging-plugin", capabilities: [LogService] })));
    await (await plugin.capability(LogService)).write({ level: "info", message: "over connect" });
    await (await plugin.capability(LogService, { protocol: "grpc" })).write({ level: "info", message: "over grpc" });
    expect(written).toEqual(["over connect", "over grpc"]);
    expect(seen.filter((s) => s.method === "Write").map((s) => s.contentType)).toEqual(["application/proto", "application/grpc+proto"]);
    expect(seen.filter((s) => s.method === "RequestCapability")).toHaveLength(2);
    const before = seen.length;
    const refused = await codeOf(plugin.capability(KVService));
    expect(refused).toBeInstanceOf(ConnectError);
    expect(seen.length).toBe(before);
  });

  it("stop() lets a call in flight finish before closing", async () => {
    const { t } = await recordingHost();
    const provider = createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "kv-provider")), name: "kv-provider", provides: [provide(KVService, createKvService())], drainTimeoutMs: 10_000 }));
    await provider.start();
    const consumer = await started(kvConsumer(t.url, await enrolled(t, "consumer")));
    const kv = consumer.client(KVService);
    for (const n of [1, 2, 3]) await kv.put({ key: `drain/${n}`, value: new TextEncoder().encode("v") });
    const received: string[] = [];
    let stopping: Promise<void> | undefined;
    // 600 ms between items: longer than the second the server's close() gives its sessions.
    for await (const e of kv.list({ prefix: "drain/", delayMs: 600 })) {
      received.push(e.key);
      if (received.length === 1) stopping = provider.stop();
    }
    await stopping;
    expect(received).toEqual(["drain/1", "drain/2", "drain/3"]);
  });

  it("a failed heartbeat is logged and the beats go on; a healthy beat registers nothing again", async () => {
    let failHeartbeats = 2;
    const { t, seen } = await recordingHost({}, undefined, async (method) => {
      if (method === "Heartbeat" && failHeartbeats-- > 0) throw new ConnectError("busy", Code.Unavailable);
    });
    const lines: Record<string, unknown>[] = [];
    await started(
      createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "kv-provider")), name: "kv-provider", provides: [provide(KVService, createKvService())], heartbeatMs: 50, logger: capturingLogger(lines) })),
    );
    await eventually(() => seen.filter((s) => s.method === "Heartbeat").length >= 6);
    expect(lines.filter((l) => l["msg"] === "heartbeat failed").map((l) => l["err"])).toEqual(["busy", "busy"]);
    expect(lines.filter((l) => l["msg"] === "plugin registered")).toHaveLength(1);
    expect(seen.filter((s) => s.method === "Register")).toHaveLength(1);
  });
});
