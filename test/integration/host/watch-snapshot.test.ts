import { afterEach, expect, it } from "vitest";
import { WatchEventType, type WatchResponse } from "../../../gen/plugboard/v1/registry_pb.js";
import { createMemoryStore } from "../../../src/store/memory.js";
import type { RegistrationRecord, Store } from "../../../src/store/types.js";
import { bearer } from "../../helpers/transports.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";

let t: TestHost;
afterEach(async () => t?.close());

it("a registration added while the watch snapshot is read is in the snapshot once, not repeated as ADDED", async () => {
  const inner = createMemoryStore();
  let raceOnce: RegistrationRecord | undefined;
  // A store whose snapshot read races with a registration landing in the middle of it.
  const store: Store = {
    ...inner,
    async listRegistrations(serviceType) {
      const racing = raceOnce;
      raceOnce = undefined;
      if (racing) await inner.putRegistration(racing);
      return inner.listRegistrations(serviceType);
    },
  };
  t = await startTestHost({ store });
  const watcher = await t.handshake({ pluginName: "watcher" });
  const racer: RegistrationRecord = {
    registrationId: "rg_racer", serviceType: "kv.v1.KVService", version: "1.0.0", runtimeId: "rt_other",
    pluginName: "other", endpoint: "http://127.0.0.1:1", metadata: {}, weight: 0, health: 1,
  };
  raceOnce = racer;
  const controller = new AbortController();
  const stream = t.clients("connect").registry.watch({}, { ...bearer(watcher.token), signal: controller.signal })[Symbol.asyncIterator]();
  const snapshot = (await stream.next()).value as WatchResponse;
  expect(snapshot.type).toBe(WatchEventType.SNAPSHOT);
  expect(snapshot.registrations.map((r) => r.registrationId)).toEqual(["rg_racer"]);
  // The next event is a later, real change, not a repeat of the racer.
  await inner.putRegistration({ ...racer, registrationId: "rg_later" });
  const next = (await stream.next()).value as WatchResponse;
  expect(next.type).toBe(WatchEventType.ADDED);
  expect(next.registrations[0]?.registrationId).toBe("rg_later");
  controller.abort();
});
