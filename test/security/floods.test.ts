import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RegistryService } from "../../gen/plugboard/v1/registry_pb.js";
import { DEFAULT_LIMITS } from "../../src/protocol/constants.js";
import { createMemoryStore } from "../../src/store/memory.js";
import type { Store } from "../../src/store/types.js";
import { startTestHost, type TestHost } from "../helpers/host.js";
import { bearer, createTransports } from "../helpers/transports.js";
import { connectRaw } from "./raw-h2.js";

/** The in-memory store, counting the store subscriptions alive. */
function countingStore(): { store: Store; live: () => number } {
  const base = createMemoryStore();
  let live = 0;
  const store = new Proxy(base, {
    get(target, prop, receiver) {
      if (prop === "subscribe") {
        return (listener: Parameters<Store["subscribe"]>[0]) => {
          const unsubscribe = target.subscribe(listener);
          live++;
          let done = false;
          return () => {
            if (!done) live--;
            done = true;
            unsubscribe();
          };
        };
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { store, live: () => live };
}

let t: TestHost | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe("HTTP/2 stream floods", () => {
  it("the host advertises its stream limit (default 256) in SETTINGS", async () => {
    t = await startTestHost();
    const raw = await connectRaw(t.server.port);
    expect(raw.settings.get(0x3)).toBe(DEFAULT_LIMITS.maxConcurrentStreams);
    raw.destroy();
  });

  it("streams past maxConcurrentStreams on one session are refused by the server, and the host stays responsive", async () => {
    const limit = 16;
    t = await startTestHost({ limits: { maxConcurrentStreams: limit } });
    const me = await t.handshake({ pluginName: "flooder" });
    const raw = await connectRaw(t.server.port);
    expect(raw.settings.get(0x3)).toBe(limit);
    const opened = 3 * limit;
    // Authenticated Watch streams whose request never ends: each holds its slot.
    for (let i = 0; i < opened; i++) raw.open(1 + 2 * i, "/plugboard.v1.RegistryService/Watch", `Bearer ${me.token}`);
    // Either each excess stream is reset (REFUSED_STREAM / PROTOCOL_ERROR) or the whole session is refused (GOAWAY).
    const refused = () => (raw.goaway ? opened - Math.ceil((raw.goaway.lastStreamId + 1) / 2) : raw.resets.size);
    await raw.until(() => refused() >= opened - limit || raw.closed, "refusal of the excess streams");
    expect(refused()).toBeGreaterThanOrEqual(opened - limit);
    // Another client is served while the flooder still holds its streams.
    await t.handshake();
    if (!raw.goaway) {
      expect(raw.closed).toBe(false);
      expect(raw.resets.size).toBe(opened - limit);
    }
    raw.destroy();
  });
});

describe("watch floods", () => {
  it("the per-caller watch cap holds, and 500 refused watch attempts retain nothing", async () => {
    const counted = countingStore();
    t = await startTestHost({ store: counted.store, limits: { watchersPerRuntime: 4 } });
    const me = await t.handshake({ pluginName: "flooder" });
    const transports = createTransports(t.url);
    const registry = createClient(RegistryService, transports.make("connect"));
    const aborts: AbortController[] = [];
    const open = async () => {
      const abort = new AbortController();
      aborts.push(abort);
      const stream = registry.watch({}, { ...bearer(me.token), signal: abort.signal })[Symbol.asyncIterator]();
      return stream.next().then(
        () => "ok",
        (e) => ConnectError.from(e).code,
      );
    };
    try {
      // Four watches are held open (each has sent its first snapshot message).
      expect(await Promise.all([open(), open(), open(), open()])).toEqual(["ok", "ok", "ok", "ok"]);
      const held = counted.live();
      expect(held).toBeGreaterThan(0);
      expect(await open()).toBe(Code.ResourceExhausted);

      for (let round = 0; round < 10; round++) {
        const codes = await Promise.all(Array.from({ length: 50 }, open));
        expect(codes.every((c) => c === Code.ResourceExhausted)).toBe(true);
      }
      // Refused watchers hold nothing: no store subscription, and no slot of the caller's cap (freeing one
      // held watch lets exactly one more in).
      expect(counted.live()).toBe(held);
      aborts[0]!.abort();
      await vi.waitFor(async () => expect(await open()).toBe("ok"), { timeout: 10_000, interval: 50 });
      expect(await open()).toBe(Code.ResourceExhausted);

      // Another runtime is not starved by the flooder's cap.
      const other = await t.handshake({ pluginName: "other" });
      const abort = new AbortController();
      aborts.push(abort);
      const first = await registry.watch({}, { ...bearer(other.token), signal: abort.signal })[Symbol.asyncIterator]().next();
      expect(first.done).toBe(false);
    } finally {
      for (const a of aborts) a.abort();
      transports.close();
    }
  });
});
