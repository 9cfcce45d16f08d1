import { afterEach, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { LogService } from "../../../gen/hostlog/v1/hostlog_pb.js";
import { WatchEventType, RemovalReason, type WatchResponse } from "../../../gen/plugboard/v1/registry_pb.js";
import { createLogCapability } from "../../../examples/logger-capability/log-service.js";
import { silentLogger } from "../../../src/log/logger.js";
import { retryDelayMs } from "../../../src/router/retry-info.js";
import { createPlugin } from "../../../src/sdk/index.js";
import { startTestHost } from "../../helpers/host.js";
import { createCountingProvider } from "../../unit/secrets/fake-provider.js";
import { bytes, eventually, kvConsumer, kvProvider, pluginOptions, sleep, enrolled, carryEnrolments } from "./harness.js";

describe("SDK against a host with limits, capabilities and watchers", () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
    cleanup.length = 0;
  });
  const started = async <T extends { start(): Promise<void>; stop(): Promise<void> }>(p: T): Promise<T> => {
    await p.start();
    cleanup.push(() => p.stop());
    return p;
  };

  it("a caller over its rate limit gets ResourceExhausted with a retry delay, then recovers; retry waits it out", async () => {
    const host = await startTestHost({ rateLimit: { perCaller: { points: 5, durationSec: 1 } } });
    cleanup.push(() => host.close());
    await started(kvProvider(host.url, {}, await enrolled(host, "kv-provider")));
    const consumer = await started(kvConsumer(host.url, await enrolled(host, "consumer")));
    const kv = consumer.client(KVService);
    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => kv.put({ key: `k${i}`, value: bytes("v") })));
    const refused = outcomes.filter((o) => o.status === "rejected").map((o) => ConnectError.from((o as PromiseRejectedResult).reason));
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(5);
    expect(refused.map((e) => e.code)).toEqual([Code.ResourceExhausted, Code.ResourceExhausted, Code.ResourceExhausted]);
    expect(retryDelayMs(refused[0]!)).toBeGreaterThan(0);

    // A client with retry honours the server's delay instead of failing: its own backoff (10 ms, 20 ms)
    // would spend all three attempts inside the exhausted window, so success means it waited as told.
    const patient = consumer.client(KVService, { retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 2_000 } });
    await patient.put({ key: "patient", value: bytes("v") });

    // The retried call landed in a fresh window: the rest of that window's budget is usable.
    for (let i = 0; i < 4; i++) await kv.get({ key: "k0" });
  });

  it("capability: grant obtained, call works, renewed after expiry", async () => {
    const written: { plugin: string; message: string }[] = [];
    const host = await startTestHost({ grantTtlMs: 400, capabilities: [createLogCapability(silentLogger(), (l) => written.push(l))] });
    cleanup.push(() => host.close());
    const plugin = await started(createPlugin(pluginOptions(host.url, { ...(await enrolled(host, "logging-plugin")), name: "logging-plugin", capabilities: [LogService] })));
    const log = await plugin.capability(LogService);
    await log.write({ level: "info", message: "first" });
    await sleep(600); // the first grant has expired
    await log.write({ level: "warn", message: "second" });
    expect(written).toEqual([
      { plugin: "logging-plugin", level: "info", message: "first" },
      { plugin: "logging-plugin", level: "warn", message: "second" },
    ]);
    // A plugin that did not declare the capability cannot get a grant.
    const other = await started(createPlugin(pluginOptions(host.url, { ...(await enrolled(host, "other")), name: "other" })));
    const err = await other.capability(LogService).catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.PermissionDenied);
  });

  it("capability survives a host restart: re-handshake, then the unknown grant is renewed on PermissionDenied", async () => {
    const written: string[] = [];
    const host = await startTestHost({ grantTtlMs: 60_000, capabilities: [createLogCapability(silentLogger(), (l) => written.push(l.message))] });
    cleanup.push(() => host.close());
    const plugin = await started(createPlugin(pluginOptions(host.url, { ...(await enrolled(host, "logging-plugin")), name: "logging-plugin", capabilities: [LogService] })));
    const log = await plugin.capability(LogService);
    await log.write({ message: "a" });
    await host.close();
    const again = await startTestHost({ capabilities: [createLogCapability(silentLogger(), (l) => written.push(l.message))] }, { port: host.server.port });
    await carryEnrolments(host, again);
    cleanup.push(() => again.close());
    // New host: runtime unknown (re-handshake) and grant unknown (renewed), transparently.
    await log.write({ message: "b" });
    expect(written).toEqual(["a", "b"]);
  });

  it("secret() returns a declared secret from the host's provider", async () => {
    const host = await startTestHost({ secrets: { provider: createCountingProvider({ "db-password": "hunter2" }) } });
    cleanup.push(() => host.close());
    const plugin = await started(createPlugin(pluginOptions(host.url, { ...(await enrolled(host, "needs-secrets")), name: "needs-secrets", secrets: [{ name: "db-password" }] })));
    expect(new TextDecoder().decode(await plugin.secret("db-password"))).toBe("hunter2");
    const err = await plugin.secret("undeclared").catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).rawMessage).not.toContain("hunter2");
  });

  it("secret() on a host without secrets gives a clear error", async () => {
    const host = await startTestHost();
    cleanup.push(() => host.close());
    const plugin = await started(createPlugin(pluginOptions(host.url, { ...(await enrolled(host, "needs-secrets")), name: "needs-secrets", secrets: [{ name: "db-password", optional: true }] })));
    const err = await plugin.secret("db-password").catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.Unimplemented);
    expect((err as ConnectError).rawMessage).toMatch(/does not serve secrets/);
  });

  it("graceful stop: watchers see REMOVED, the in-flight stream completes", async () => {
    const host = await startTestHost();
    cleanup.push(() => host.close());
    const provider = kvProvider(host.url, {}, { ...(await enrolled(host, "kv-provider")), drainTimeoutMs: 5_000 });
    await provider.start();
    cleanup.push(() => provider.stop());
    const consumer = await started(kvConsumer(host.url, await enrolled(host, "consumer")));
    const kv = consumer.client(KVService);
    for (const n of [1, 2, 3]) await kv.put({ key: `drain/${n}`, value: bytes("v") });

    const events: WatchResponse[] = [];
    const watching = new AbortController();
    const watcher = (async () => {
      for await (const e of consumer.watch(KVService, { signal: watching.signal })) events.push(e);
    })().catch(() => undefined);
    await eventually(() => events.length >= 1);
    expect(events[0]!.type).toBe(WatchEventType.SNAPSHOT);
    expect(events[0]!.registrations.map((r) => r.runtimeId)).toEqual([provider.runtimeId]);

    const received: string[] = [];
    let stopping: Promise<void> | undefined;
    const stream = (async () => {
      for await (const e of kv.list({ prefix: "drain/", delayMs: 250 })) {
        received.push(e.key);
        if (received.length === 1) stopping = provider.stop();
      }
    })();
    await stream;
    await stopping;
    expect(received).toEqual(["drain/1", "drain/2", "drain/3"]);
    await eventually(() => events.some((e) => e.type === WatchEventType.REMOVED));
    const removed = events.find((e) => e.type === WatchEventType.REMOVED)!;
    expect(removed.removalReason).toBe(RemovalReason.UNREGISTERED);
    // No provider left: new calls are refused by the host, not sent to the stopped plugin.
    const err = await kv.get({ key: "drain/1" }).catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.Unavailable);
    watching.abort();
    await watcher;
  });
});
