import { createClient } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { RegistryService, RemovalReason, WatchEventType, type WatchResponse } from "../../../gen/plugboard/v1/registry_pb.js";
import { bearer } from "../../helpers/transports.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";

const KV = "kv.v1.KVService";
const LOG = "log.v1.LogService";
let t: TestHost;
let jsonSessions: Http2SessionManager | undefined;
afterEach(async () => {
  jsonSessions?.abort();
  jsonSessions = undefined;
  await t?.close();
});

/** Collects a watch stream's events after its snapshot; `until` resolves once `n` have arrived. */
function collect(stream: AsyncIterable<WatchResponse>) {
  const events: WatchResponse[] = [];
  let ready!: () => void;
  const snapshot = new Promise<void>((r) => (ready = r));
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  void (async () => {
    for await (const event of stream) {
      if (event.type === WatchEventType.SNAPSHOT) {
        if (event.snapshotComplete) ready();
        continue;
      }
      events.push(event);
      for (const w of waiters) if (events.length >= w.n) w.resolve();
    }
  })().catch(() => undefined);
  return {
    events,
    snapshot,
    until: (n: number) => new Promise<void>((resolve) => (events.length >= n ? resolve() : waiters.push({ n, resolve }))),
  };
}

describe("watch fan-out", () => {
  it("every watcher gets each event exactly once, the same over binary and JSON codecs, only for the types it watches", async () => {
    t = await startTestHost();
    const watcher = await t.handshake({ pluginName: "watcher" });
    const auth = { ...bearer(watcher.token), signal: AbortSignal.timeout(60_000) };
    jsonSessions = new Http2SessionManager(t.url);
    const json = createClient(RegistryService, createConnectTransport({ baseUrl: t.url, httpVersion: "2", useBinaryFormat: false, sessionManager: jsonSessions }));
    const controller = new AbortController();
    const signal = AbortSignal.any([controller.signal, auth.signal]);
    const opts = { headers: auth.headers, signal };
    const watchers = {
      connectAll: collect(t.clients("connect").registry.watch({}, opts)),
      connectKv: collect(t.clients("connect").registry.watch({ serviceTypes: [KV] }, opts)),
      jsonKv: collect(json.watch({ serviceTypes: [KV, KV] }, opts)),
      grpcKv: collect(t.clients("grpc").registry.watch({ serviceTypes: [KV, LOG] }, opts)),
      grpcWebLog: collect(t.clients("grpc-web").registry.watch({ serviceTypes: [LOG] }, opts)),
    };
    await Promise.all(Object.values(watchers).map((w) => w.snapshot));

    const kv = await t.handshake({ pluginName: "kv", baseUrl: "http://127.0.0.1:7001", provides: [{ type: KV, version: "1.0.0" }] });
    const registered = await t.clients("connect").registry.register({ serviceType: KV, metadata: { zone: "é\"\\\u0001" }, weight: 7 }, bearer(kv.token));
    const id = registered.registration!.registrationId;
    await t.clients("connect").registry.unregister({ registrationId: id }, bearer(kv.token));
    const log = await t.handshake({ pluginName: "log", baseUrl: "http://127.0.0.1:7002", provides: [{ type: LOG, version: "1.0.0" }] });
    await t.clients("connect").registry.register({ serviceType: LOG }, bearer(log.token));

    await Promise.all([watchers.connectAll.until(3), watchers.connectKv.until(2), watchers.jsonKv.until(2), watchers.grpcKv.until(3), watchers.grpcWebLog.until(1)]);
    // One more event everyone sees marks the end: nothing else may have arrived before it.
    const kv2 = await t.handshake({ pluginName: "kv", baseUrl: "http://127.0.0.1:7003", provides: [{ type: KV, version: "1.0.0" }] });
    await t.clients("connect").registry.register({ serviceType: KV }, bearer(kv2.token));
    await t.clients("connect").registry.register({ serviceType: LOG }, bearer(log.token)); // same endpoint: an update
    await Promise.all([watchers.connectAll.until(5), watchers.connectKv.until(3), watchers.jsonKv.until(3), watchers.grpcKv.until(5), watchers.grpcWebLog.until(2)]);
    controller.abort();

    const summary = (w: ReturnType<typeof collect>) =>
      w.events.map((e) => `${WatchEventType[e.type]}:${e.registrations[0]!.serviceType}:${e.registrations[0]!.endpoint}:${RemovalReason[e.removalReason]}`);
    const kvAdded = `ADDED:${KV}:http://127.0.0.1:7001:UNSPECIFIED`;
    const kvRemoved = `REMOVED:${KV}:http://127.0.0.1:7001:UNREGISTERED`;
    const logAdded = `ADDED:${LOG}:http://127.0.0.1:7002:UNSPECIFIED`;
    const kv2Added = `ADDED:${KV}:http://127.0.0.1:7003:UNSPECIFIED`;
    const logUpdated = `UPDATED:${LOG}:http://127.0.0.1:7002:UNSPECIFIED`;
    expect(summary(watchers.connectAll)).toEqual([kvAdded, kvRemoved, logAdded, kv2Added, logUpdated]);
    expect(summary(watchers.connectKv)).toEqual([kvAdded, kvRemoved, kv2Added]);
    expect(summary(watchers.jsonKv)).toEqual([kvAdded, kvRemoved, kv2Added]);
    expect(summary(watchers.grpcKv)).toEqual([kvAdded, kvRemoved, logAdded, kv2Added, logUpdated]);
    expect(summary(watchers.grpcWebLog)).toEqual([logAdded, logUpdated]);
    // The binary streams got the bytes encoded once; the JSON stream its own encoding: the same registration.
    for (const w of [watchers.connectAll, watchers.connectKv, watchers.grpcKv]) expect(w.events[0]).toEqual(watchers.jsonKv.events[0]);
    expect(watchers.jsonKv.events[0]!.registrations[0]).toMatchObject({ registrationId: id, weight: 7, metadata: { zone: "é\"\\\u0001" } });
  });
});
