/**
 * The token service's edges, one assertion per rule (found by mutation testing, docs/testing.md):
 * the random source's contract, id prefixes, the length cap before hashing, expiry at the exact
 * instant, the stored kind, and revocation by id.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../../src/store/memory.js";
import type { Store } from "../../../src/store/types.js";
import { createTokenService, drawRandom, randomId, tokenDigest } from "../../../src/tokens/tokens.js";

/** The memory store, remembering the digests it was asked for. */
function askedStore(): { store: Store; asked: string[] } {
  const inner = createMemoryStore();
  const asked: string[] = [];
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== "function") return value;
      if (prop === "getCredential")
        return (digest: string) => {
          asked.push(digest);
          return inner.getCredential(digest);
        };
      return value.bind(target);
    },
  });
  return { store, asked };
}

describe("drawRandom", () => {
  it("returns exactly the bytes asked for", () => {
    const bytes = drawRandom((n) => Buffer.alloc(n, 7), 16);
    expect(bytes).toEqual(Buffer.alloc(16, 7));
  });

  it("a short read or a throwing source is an Internal error, never a weaker token", () => {
    for (const source of [(n: number) => Buffer.alloc(n - 1), () => { throw new Error("no entropy"); }]) {
      const error = (() => {
        try {
          drawRandom(source, 16);
        } catch (e) {
          return ConnectError.from(e);
        }
        return undefined;
      })();
      expect(error?.code).toBe(Code.Internal);
      expect(error?.rawMessage).toBe("random source unavailable");
    }
  });
});

describe("randomId", () => {
  it("is the prefix and 16 random bytes in base64url", () => {
    expect(randomId("rt_", (n) => Buffer.alloc(n, 0xff))).toBe("rt_" + Buffer.alloc(16, 0xff).toString("base64url"));
  });
});

describe("token service", () => {
  it("runtime token ids start tk_, grant ids gr_; the token is its kind's prefix and 32 random bytes", async () => {
    const tokens = createTokenService({ store: createMemoryStore(), random: (n) => Buffer.alloc(n, 1) });
    const runtime = await tokens.issue("runtime", "rt_a", 60_000);
    const grant = await tokens.issue("grant", "rt_a", 60_000);
    expect(runtime.id).toBe("tk_" + Buffer.alloc(16, 1).toString("base64url"));
    expect(grant.id).toBe("gr_" + Buffer.alloc(16, 1).toString("base64url"));
    expect(runtime.token).toBe("pbrt_" + Buffer.alloc(32, 1).toString("base64url"));
    expect(grant.token).toBe("pbgt_" + Buffer.alloc(32, 1).toString("base64url"));
  });

  it("a capability is recorded only when given", async () => {
    const store = createMemoryStore();
    const tokens = createTokenService({ store });
    const plain = await tokens.issue("grant", "rt_a", 60_000);
    const scoped = await tokens.issue("grant", "rt_a", 60_000, { capability: "log.v1.LogService" });
    expect(Object.keys((await store.getCredential(tokenDigest(plain.token)))!)).not.toContain("capability");
    expect((await store.getCredential(tokenDigest(scoped.token)))!.capability).toBe("log.v1.LogService");
  });

  it("expires at exactly expiresAt by the injected clock", async () => {
    // Ahead of the real clock, which the memory store filters by too: only the host's clock decides here.
    const start = Date.now() + 3_600_000;
    let now = start;
    const tokens = createTokenService({ store: createMemoryStore(), now: () => now });
    const { token, expiresAt } = await tokens.issue("runtime", "rt_a", 5_000);
    expect(expiresAt).toBe(start + 5_000);
    now = expiresAt - 1;
    expect(await tokens.verify(token, "runtime")).toBeDefined();
    now = expiresAt;
    expect(await tokens.verify(token, "runtime")).toBeUndefined();
  });

  it("tokens up to 128 characters are looked up (by digest); longer ones are refused unhashed", async () => {
    const { store, asked } = askedStore();
    const tokens = createTokenService({ store });
    const at128 = "pbrt_" + "a".repeat(123);
    const at129 = at128 + "a";
    expect(await tokens.verify(at128, "runtime")).toBeUndefined();
    expect(asked).toEqual([tokenDigest(at128)]);
    asked.length = 0;
    expect(await tokens.verify(at129, "runtime")).toBeUndefined();
    expect(asked).toEqual([]);
  });

  it("a stored record of another kind is refused even under the right prefix", async () => {
    const store = createMemoryStore();
    const tokens = createTokenService({ store });
    const token = "pbrt_" + "b".repeat(43);
    await store.putCredential(tokenDigest(token), { kind: "grant", id: "gr_x", runtimeId: "rt_a", expiresAt: Date.now() + 60_000 });
    expect(await tokens.verify(token, "runtime")).toBeUndefined();
    expect(await tokens.verify(token.replace("pbrt_", "pbgt_"), "grant")).toBeUndefined();
  });

  it("revokeById: true and gone for a live id, false for an unknown one", async () => {
    const tokens = createTokenService({ store: createMemoryStore() });
    const { token, id } = await tokens.issue("runtime", "rt_a", 60_000);
    expect(await tokens.find(id)).toMatchObject({ id, runtimeId: "rt_a", kind: "runtime" });
    expect(await tokens.revokeById(id)).toBe(true);
    expect(await tokens.verify(token, "runtime")).toBeUndefined();
    expect(await tokens.find(id)).toBeUndefined();
    expect(await tokens.revokeById(id)).toBe(false);
  });

  it("refresh consumes the old token once: a second refresh of it is Unauthenticated", async () => {
    const store = createMemoryStore();
    await store.putRuntime({
      runtimeId: "rt_a", pluginName: "kv", pluginVersion: "1.0.0", appProtocolVersion: "1.0.0", baseUrl: "",
      provides: [], requires: [], secrets: [], capabilities: [], health: 1, healthMessage: "", healthReportedAt: 0,
      callerSigningKey: "", startedAt: 0, expiresAt: Date.now() + 60_000,
    });
    const tokens = createTokenService({ store });
    const first = await tokens.issue("runtime", "rt_a", 60_000);
    const next = await tokens.refresh(first.id, "rt_a", 60_000);
    expect(await tokens.verify(next.token, "runtime")).toMatchObject({ id: next.id, runtimeId: "rt_a" });
    expect(await tokens.verify(first.token, "runtime")).toBeUndefined();
    const again = await tokens.refresh(first.id, "rt_a", 60_000).catch((e: unknown) => ConnectError.from(e));
    expect(again).toBeInstanceOf(ConnectError);
    expect((again as ConnectError).code).toBe(Code.Unauthenticated);
    expect((again as ConnectError).rawMessage).toBe("runtime token was already refreshed, revoked or has expired");
  });
});
