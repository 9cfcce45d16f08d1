import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { createLogger } from "../../../src/log/logger.js";
import { guardStore, STORE_UNAVAILABLE_MESSAGE } from "../../../src/host/store-guard.js";
import { createMemoryStore } from "../../../src/store/memory.js";
import type { Store } from "../../../src/store/types.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { bearer, createTransports } from "../../helpers/transports.js";

const REDIS_TEXT = "connect ECONNREFUSED 10.9.8.7:6379";

/** A memory store that fails like a Redis outage while `broken` is set. */
function breakableStore() {
  const inner = createMemoryStore();
  const control = { broken: false };
  const store = new Proxy(inner, {
    get(target, key: keyof Store) {
      const member = target[key];
      if (typeof member !== "function" || key === "subscribe" || key === "close") return member;
      return (...args: unknown[]) =>
        control.broken ? Promise.reject(new Error(REDIS_TEXT)) : (member as (...a: unknown[]) => unknown).apply(target, args);
    },
  });
  return { store, control };
}

function capturingLogger() {
  const lines: string[] = [];
  const logger = createLogger({ level: "debug", destination: { write: (line: string) => lines.push(line) } as never });
  return { logger, lines };
}

describe("guardStore", () => {
  it("turns a store rejection into Unavailable without the store's text, keeping the cause and logging it", async () => {
    const { store, control } = breakableStore();
    const { logger, lines } = capturingLogger();
    const guarded = guardStore(store, logger);
    control.broken = true;
    const err = await guarded.getRuntime("rt_x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.Unavailable);
    expect((err as ConnectError).rawMessage).toBe(STORE_UNAVAILABLE_MESSAGE);
    expect(String((err as ConnectError).message)).not.toContain("ECONNREFUSED");
    expect(((err as ConnectError).cause as Error).message).toBe(REDIS_TEXT);
    expect(lines.join("")).toContain(REDIS_TEXT);
    // Once per interval, not once per failed call.
    await guarded.listRegistrations().catch(() => undefined);
    expect(lines.filter((l) => l.includes("state store failed"))).toHaveLength(1);
    expect(await guarded.ping()).toBe(false); // not ready, rather than a rejection
  });

  it("passes ConnectErrors and results through, and answers ping false instead of rejecting", async () => {
    const refusing = new ConnectError("not yours", Code.PermissionDenied);
    const base = createMemoryStore();
    const store: Store = { ...base, getRuntime: () => Promise.reject(refusing), ping: () => Promise.reject(new Error("down")) };
    const guarded = guardStore(store, createLogger({ level: "silent" }));
    await expect(guarded.getRuntime("x")).rejects.toBe(refusing);
    expect(await guarded.ping()).toBe(false);
    expect(await guarded.listRuntimes()).toEqual([]);
  });

  it("a synchronous throw from a store is Unavailable too, never an exception out of the call", async () => {
    const base = createMemoryStore();
    const store: Store = {
      ...base,
      listRuntimes: () => {
        throw new Error(REDIS_TEXT);
      },
    };
    const guarded = guardStore(store, createLogger({ level: "silent" }));
    await expect(guarded.listRuntimes()).rejects.toMatchObject({ code: Code.Unavailable });
  });
});

describe("a host whose store fails", () => {
  let t: TestHost | undefined;
  const closers: (() => void)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) close();
    await t?.close();
    t = undefined;
  });

  it("answers Unavailable on host RPCs (unary and streaming) and routed calls, never Internal with the store's text", async () => {
    const { store, control } = breakableStore();
    t = await startTestHost({ store });
    const consumer = await t.handshake({ pluginName: "consumer", requires: [{ type: KVService.typeName, versionRange: "*" }] });
    const late = await t.enrol("late");
    control.broken = true;
    const transports = createTransports(t.url);
    closers.push(() => transports.close());
    const kv = createClient(KVService, transports.make("connect"));
    const calls: Record<string, Promise<unknown>> = {
      handshake: t.handshake({ pluginName: "late", enrolmentToken: late }),
      discover: t.clients("connect").registry.discover({ serviceType: KVService.typeName }, bearer(consumer.token)),
      watch: (async () => {
        for await (const m of t!.clients("grpc").registry.watch({}, bearer(consumer.token))) return m;
      })(),
      routed: kv.get({ key: "k" }, bearer(consumer.token)),
    };
    // Every outcome is taken at once, so no call is an unhandled rejection while an earlier one is checked.
    const outcomes = Object.entries(calls).map(([name, call]) => [name, call.then(() => new Error(`${name} succeeded`), (e: unknown) => e)] as const);
    for (const [name, outcome] of outcomes) {
      const err = ConnectError.from(await outcome);
      expect({ name, code: Code[err.code], message: err.rawMessage }).toEqual({
        name,
        code: "Unavailable",
        message: STORE_UNAVAILABLE_MESSAGE,
      });
    }
    control.broken = false;
    expect((await t.clients("connect").registry.discover({ serviceType: KVService.typeName }, bearer(consumer.token))).providers).toEqual([]);
  });
});
