import { afterEach, describe, expect, it } from "vitest";
import { ConnectError } from "@connectrpc/connect";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import type { Plugin } from "../../../src/sdk/index.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { bytes, eventually, kvConsumer, kvProvider, messages, sleep, enrolled, carryEnrolments } from "./harness.js";

describe("SDK: runtime token lifecycle", () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
    cleanup.length = 0;
  });

  it("refreshes the token across several lifetimes with zero failed calls", async () => {
    // 4 s tokens, refreshed at half their life: a refresh or a call in flight may stall for up to 2 s (a loaded
    // machine, host and plugins in one process) before the token it carries runs out.
    const host = await startTestHost({ runtimeTokenTtlMs: 4_000 });
    cleanup.push(() => host.close());
    const provider = kvProvider(host.url, {}, await enrolled(host, "kv-provider"));
    await provider.start();
    cleanup.push(() => provider.stop());
    const consumer = kvConsumer(host.url, await enrolled(host, "consumer"));
    await consumer.start();
    cleanup.push(() => consumer.stop());
    const firstRuntimes = [provider.runtimeId, consumer.runtimeId];

    const kv = consumer.client(KVService);
    const failures: string[] = [];
    let calls = 0;
    // More than two token lifetimes, and at least 40 calls however slow the machine is (a failure ends it).
    const end = Date.now() + 9_000;
    const goOn = () => failures.length === 0 && (Date.now() < end || calls < 40);
    // Several callers at once, of every kind, so some calls are in flight while a token switches.
    await Promise.all(
      [0, 1, 2].map(async (lane) => {
        while (goOn()) {
          try {
            await kv.put({ key: `k${lane}`, value: bytes(String(calls)) });
            await kv.get({ key: `k${lane}` });
            for await (const _ of kv.list({ prefix: `k${lane}` })) void _;
            await kv.putMany(messages([{ key: `m${lane}`, value: bytes("x") }]));
            calls += 4;
          } catch (e) {
            failures.push(ConnectError.from(e).message);
          }
          await sleep(10);
        }
      }),
    );
    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThanOrEqual(40);
    // Same runtimes throughout: refreshed, not re-handshaken (which would orphan registrations).
    expect([provider.runtimeId, consumer.runtimeId]).toEqual(firstRuntimes);
  });

  it("after a host restart the plugins handshake again, re-register and calls work", async () => {
    let host: TestHost = await startTestHost();
    cleanup.push(() => host.close());
    const port = host.server.port;
    const provider = kvProvider(host.url, {}, { ...(await enrolled(host, "kv-provider")), heartbeatMs: 200 });
    await provider.start();
    cleanup.push(() => provider.stop());
    const consumer = kvConsumer(host.url, await enrolled(host, "consumer"));
    await consumer.start();
    cleanup.push(() => consumer.stop());
    const kv = consumer.client(KVService);
    await kv.put({ key: "before", value: bytes("1") });
    const [oldProvider, oldConsumer] = [provider.runtimeId, consumer.runtimeId];

    const before = host;
    await host.close();
    host = await startTestHost({}, { port });
    await carryEnrolments(before, host);
    cleanup.push(() => host.close());

    // The provider notices through its heartbeat; the consumer on its next call.
    await eventually(() => provider.runtimeId !== oldProvider, 5_000);
    const got = await kv.get({ key: "before" }); // one call: refused, recovered and resent inside the SDK
    expect(got.found).toBe(true); // the provider kept its data: same process, new runtime
    expect(consumer.runtimeId).not.toBe(oldConsumer);
    expect(got.caller).toBe(`runtime:${consumer.runtimeId}`);
    const providers = await consumer.discover(KVService);
    expect(providers.providers.map((r) => r.runtimeId)).toEqual([provider.runtimeId]);
  });

  it("the heartbeat restores a registration the host lost while the runtime lived on", async () => {
    const host = await startTestHost();
    cleanup.push(() => host.close());
    const provider = kvProvider(host.url, {}, { ...(await enrolled(host, "kv-provider")), heartbeatMs: 150 });
    await provider.start();
    cleanup.push(() => provider.stop());
    const [registration] = await host.host.store.listRegistrations("kv.v1.KVService");
    await host.host.store.removeRegistration(registration!.registrationId, "unregistered");
    const restored = await eventually(async () => (await host.host.store.listRegistrations("kv.v1.KVService"))[0], 3_000);
    expect(restored?.runtimeId).toBe(provider.runtimeId);
    expect(restored?.registrationId).not.toBe(registration!.registrationId);
    await sleep(400); // later heartbeats add nothing more
    expect(await host.host.store.listRegistrations("kv.v1.KVService")).toHaveLength(1);
  });
});
