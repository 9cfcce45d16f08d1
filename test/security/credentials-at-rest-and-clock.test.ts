/**
 * Tokens never reach the store in the clear, and credentials expire by the host's own clock
 * (its injected `now`), not only by whatever clock a store happens to filter with.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { LogService, WriteResponseSchema } from "../../gen/hostlog/v1/hostlog_pb.js";
import type { Capability } from "../../src/host/context.js";
import { createMemoryStore } from "../../src/store/memory.js";
import type { Store } from "../../src/store/types.js";
import { createTokenService } from "../../src/tokens/tokens.js";
import { startTestHost, type TestHost } from "../helpers/host.js";

/** A store that remembers, as text, every argument it was ever given. */
function recordingStore(): { store: Store; seen: string[] } {
  const inner = createMemoryStore();
  const seen: string[] = [];
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        for (const arg of args) seen.push(typeof arg === "string" ? arg : JSON.stringify(arg) ?? "");
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, seen };
}

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => "ok" as const,
    (e: unknown) => ConnectError.from(e).code,
  );

const logCapability: Capability<typeof LogService> = { service: LogService, impl: { write: () => create(WriteResponseSchema) } };

let t: TestHost | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe("tokens at rest", () => {
  it("the store never receives an issued runtime token or grant token, only digests", async () => {
    const { store, seen } = recordingStore();
    t = await startTestHost({
      store,
      capabilities: [logCapability],
    });
    const a = await t.handshake({ pluginName: "a", capabilities: [LogService.typeName] });
    const auth = { headers: { authorization: `Bearer ${a.token}` } };
    const grant = await t.clients("connect").broker.requestCapability({ capabilityType: LogService.typeName }, auth);
    const refreshed = await t.clients("connect").handshake.refreshToken({}, auth);
    const issued = [a.token, grant.grantToken, refreshed.runtimeToken];
    for (const token of issued) expect(token.length).toBeGreaterThan(40);
    expect(seen.length).toBeGreaterThan(0);
    for (const token of issued) {
      // Neither the token nor its random part (without the kind prefix) is ever handed to the store.
      const randomPart = token.slice(token.indexOf("_") + 1);
      expect(seen.some((s) => s.includes(randomPart)), "store saw a raw token").toBe(false);
    }
  });
});

describe("expiry follows the host's clock", () => {
  it("the token service refuses a token once the injected clock passes its expiry", async () => {
    let clock = Date.now();
    const tokens = createTokenService({ store: createMemoryStore(), now: () => clock });
    const issued = await tokens.issue("runtime", "rt_x", 60_000);
    expect(await tokens.verify(issued.token, "runtime")).toBeDefined();
    clock += 60_001; // wall time has not moved: only the host's clock says it expired
    expect(await tokens.verify(issued.token, "runtime")).toBeUndefined();
  });

  it("a host with an injected clock refuses a runtime token its clock says has expired", async () => {
    let clock = Date.now();
    t = await startTestHost({ now: () => clock, runtimeTokenTtlMs: 60_000 });
    const a = await t.handshake({ pluginName: "a" });
    const discover = () =>
      t!.clients("connect").registry.discover({ serviceType: "kv.v1.KVService" }, { headers: { authorization: `Bearer ${a.token}` } });
    expect(await codeOf(discover())).toBe("ok");
    clock += 60_001;
    expect(await codeOf(discover())).toBe(Code.Unauthenticated);
  });
});
