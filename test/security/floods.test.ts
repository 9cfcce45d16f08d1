import * as v8 from "node:v8";
import { runInNewContext } from "node:vm";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { RegistryService } from "../../gen/plugboard/v1/registry_pb.js";
import { DEFAULT_LIMITS } from "../../src/protocol/constants.js";
import { startTestHost, type TestHost } from "../helpers/host.js";
import { bearer, createTransports } from "../helpers/transports.js";
import { connectRaw } from "./raw-h2.js";

/** A real full GC even without --expose-gc, so heap figures are not garbage noise. */
function collectGarbage(): void {
  v8.setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
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
    await sleep(300);
    // Either each excess stream is reset (REFUSED_STREAM / PROTOCOL_ERROR) or the whole session is refused (GOAWAY).
    const refused = raw.goaway ? opened - Math.ceil((raw.goaway.lastStreamId + 1) / 2) : raw.resets.size;
    expect(refused).toBeGreaterThanOrEqual(opened - limit);
    // Another client is served promptly meanwhile.
    const started = performance.now();
    await t.handshake();
    expect(performance.now() - started).toBeLessThan(2_000);
    raw.destroy();
  });
});

describe("watch floods", () => {
  it("the per-caller watch cap holds, and 500 refused watch attempts leave the heap bounded", async () => {
    t = await startTestHost({ limits: { watchersPerRuntime: 4 } });
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
      expect(await open()).toBe(Code.ResourceExhausted);

      collectGarbage();
      const before = process.memoryUsage().heapUsed;
      for (let round = 0; round < 10; round++) {
        const codes = await Promise.all(Array.from({ length: 50 }, open));
        expect(codes.every((c) => c === Code.ResourceExhausted)).toBe(true);
      }
      collectGarbage();
      const grownMiB = (process.memoryUsage().heapUsed - before) / 2 ** 20;
      // Stated limit: refused watchers hold nothing; 500 attempts may not grow the heap by 32 MiB.
      expect(grownMiB).toBeLessThan(32);

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
