/**
 * The runtime-token identity cache of routed calls: what it learns, when a hit stops holding (the
 * clock, the safety-net age), and that every store write ending or changing a credential or a
 * runtime forgets what it changes — a cache must never serve a revoked token.
 * Written against the survivors of `npm run mutate -- identity` (docs/testing.md).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Identity } from "../../../src/identity/identity.js";
import { createTokenIdentityCache, type TokenIdentityCache } from "../../../src/identity/token-identity-cache.js";
import { createMemoryStore } from "../../../src/store/memory.js";
import type { RemovalCause, Store } from "../../../src/store/types.js";
import { createTokenService, tokenDigest, type TokenService } from "../../../src/tokens/tokens.js";
import { runtimeRecord } from "../../store/fixtures.js";

let perf = 0;
let t = 0;
let inner: Store;
let tokens: TokenService;
let cache: TokenIdentityCache;
let unsubscribed: ReturnType<typeof vi.fn>;

const identityOf = (runtimeId: string, credentialId: string, overrides: Partial<Identity> = {}): Identity => ({
  kind: "runtime",
  subject: `runtime:${runtimeId}`,
  method: "token",
  runtimeId,
  credentialId,
  roles: [],
  ...overrides,
});

/** A runtime with a live token; the cache has learned its identity. */
async function learned(runtimeId: string, ttlMs = 60_000) {
  if (!(await inner.getRuntime(runtimeId))) await inner.putRuntime(runtimeRecord(runtimeId, { expiresAt: t + 120_000 }));
  const { token, id, expiresAt } = await tokens.issue("runtime", runtimeId, ttlMs);
  const header = `Bearer ${token}`;
  const identity = identityOf(runtimeId, id);
  await cache.learn(header, identity);
  expect(cache.get(header)).toBe(identity);
  return { header, identity, id, token, expiresAt };
}

/** The memory store, with removal events going to the test rather than to the cache (as a store whose events come late). */
function storeWithoutEvents(): { store: Store; ended: (runtimeId: string, cause: RemovalCause) => void } {
  const memory = createMemoryStore();
  let listener: ((runtimeId: string, cause: RemovalCause) => void) | undefined;
  return {
    store: { ...memory, onRuntimeEnded: (l) => ((listener = l), unsubscribed as () => void) },
    ended: (runtimeId, cause) => listener?.(runtimeId, cause),
  };
}

beforeEach(() => {
  perf = 1_000;
  t = Date.now();
  vi.spyOn(performance, "now").mockImplementation(() => perf);
  unsubscribed = vi.fn();
  inner = storeWithoutEvents().store;
  tokens = createTokenService({ store: inner });
  cache = createTokenIdentityCache({ store: inner, now: () => t });
});
afterEach(() => {
  cache.close();
  vi.restoreAllMocks();
});

describe("what the cache learns", () => {
  it("answers a learned header with the same identity, with or without a connection", async () => {
    const a = await learned("rt_1");
    const b = await learned("rt_2");
    const connection = {};
    expect(cache.get(a.header, connection)).toBe(a.identity);
    expect(cache.get(a.header, connection)).toBe(a.identity);
    // The same connection sending another header: that header's own entry.
    expect(cache.get(b.header, connection)).toBe(b.identity);
    expect(cache.get(a.header, connection)).toBe(a.identity);
    expect(cache.get(`${a.header}x`, connection)).toBeUndefined();
    expect(cache.get(`${a.header}x`)).toBeUndefined();
  });

  it("is empty to begin with", () => {
    expect(cache.get("Bearer pbrt_x")).toBeUndefined();
    expect(cache.get("Bearer pbrt_x", {})).toBeUndefined();
  });

  it("learns only plain runtime identities", async () => {
    await inner.putRuntime(runtimeRecord("rt_1", { expiresAt: t + 120_000 }));
    const { token, id } = await tokens.issue("runtime", "rt_1", 60_000);
    const header = `Bearer ${token}`;
    const refused: Identity[] = [
      identityOf("rt_1", id, { kind: "external" }),
      { kind: "runtime", subject: "runtime:rt_1", method: "token", credentialId: id, roles: [] },
      { kind: "runtime", subject: "runtime:rt_1", method: "token", runtimeId: "rt_1", roles: [] },
      identityOf("rt_1", id, { expiresAt: t + 10_000 }),
      identityOf("rt_1", id, { boundSubject: "spiffe://td/plugin/kv", boundMethod: "mtls" }),
      identityOf("rt_1", id, { boundSubject: "spiffe://td/plugin/kv" }),
    ];
    for (const identity of refused) {
      await cache.learn(header, identity);
      expect(cache.get(header)).toBeUndefined();
    }
    // A JWT-bound runtime's token is the credential from the handshake on: cached.
    const jwtBound = identityOf("rt_1", id, { boundSubject: "jwt:https://idp#a", boundMethod: "jwt" });
    await cache.learn(header, jwtBound);
    expect(cache.get(header)).toBe(jwtBound);
  });

  it("learns a runtime identity with a binding method but no bound subject", async () => {
    await inner.putRuntime(runtimeRecord("rt_1", { expiresAt: t + 120_000 }));
    const { token, id } = await tokens.issue("runtime", "rt_1", 60_000);
    const identity = identityOf("rt_1", id, { boundMethod: "mtls" });
    await cache.learn(`Bearer ${token}`, identity);
    expect(cache.get(`Bearer ${token}`)).toBe(identity);
  });

  it("learns only `Bearer pbrt_` headers, and answers no other", async () => {
    await inner.putRuntime(runtimeRecord("rt_1", { expiresAt: t + 120_000 }));
    const { token, id } = await tokens.issue("runtime", "rt_1", 60_000);
    for (const header of [`bearer ${token}`, `Bearer  ${token}`, token]) {
      await cache.learn(header, identityOf("rt_1", id));
      expect(cache.get(header)).toBeUndefined();
    }
    // A grant-shaped header never hits, even with entries present.
    await learned("rt_2");
    expect(cache.get(`Bearer pbgt_${token.slice(5)}`)).toBeUndefined();
  });

  it("learns nothing the store does not confirm", async () => {
    await inner.putRuntime(runtimeRecord("rt_1", { expiresAt: t + 120_000 }));
    await inner.putRuntime(runtimeRecord("rt_2", { expiresAt: t + 120_000 }));
    const unknown = "Bearer pbrt_unknown";
    await cache.learn(unknown, identityOf("rt_1", "tk_x"));
    expect(cache.get(unknown)).toBeUndefined();

    const { token, id } = await tokens.issue("runtime", "rt_1", 60_000);
    const header = `Bearer ${token}`;
    // Another credential id, another runtime than the record's.
    await cache.learn(header, identityOf("rt_1", "tk_other"));
    expect(cache.get(header)).toBeUndefined();
    await cache.learn(header, identityOf("rt_2", id));
    expect(cache.get(header)).toBeUndefined();

    // A record of another kind under the digest.
    const grantShaped = "pbrt_grantrecord";
    await inner.putCredential(tokenDigest(grantShaped), { kind: "grant", id: "gr_1", runtimeId: "rt_1", expiresAt: t + 60_000 });
    await cache.learn(`Bearer ${grantShaped}`, identityOf("rt_1", "gr_1"));
    expect(cache.get(`Bearer ${grantShaped}`)).toBeUndefined();

    // The record's runtime is gone.
    const orphan = "pbrt_orphan";
    await inner.putCredential(tokenDigest(orphan), { kind: "runtime", id: "tk_o", runtimeId: "rt_gone", expiresAt: t + 60_000 });
    await cache.learn(`Bearer ${orphan}`, identityOf("rt_gone", "tk_o"));
    expect(cache.get(`Bearer ${orphan}`)).toBeUndefined();
  });

  it("keeps nothing learned while an invalidation raced the lookup", async () => {
    await inner.putRuntime(runtimeRecord("rt_1", { expiresAt: t + 120_000 }));
    const { token, id } = await tokens.issue("runtime", "rt_1", 60_000);
    const getCredential = inner.getCredential;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    inner.getCredential = async (digest) => (await gate, getCredential(digest));
    const learning = cache.learn(`Bearer ${token}`, identityOf("rt_1", id));
    await cache.store.setRuntimeExpiry("rt_other", t + 1);
    release();
    await learning;
    expect(cache.get(`Bearer ${token}`)).toBeUndefined();
  });

  it.each([
    ["a rotation", () => cache.store.rotateCredential("tk_unknown", "d", { kind: "runtime", id: "tk_n", runtimeId: "rt_other", expiresAt: t + 1 }, t)],
    ["a credential write, then a runtime write", async () => {
      await cache.store.putCredential("d", { kind: "runtime", id: "tk_n", runtimeId: "rt_other", expiresAt: t + 1 });
      await cache.store.setRuntimeExpiry("rt_other", t + 1);
    }],
  ])("keeps nothing learned while %s raced the lookup", async (_name, writes) => {
    await inner.putRuntime(runtimeRecord("rt_1", { expiresAt: t + 120_000 }));
    const { token, id } = await tokens.issue("runtime", "rt_1", 60_000);
    const getCredential = inner.getCredential;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    inner.getCredential = async (digest) => (await gate, getCredential(digest));
    const learning = cache.learn(`Bearer ${token}`, identityOf("rt_1", id));
    await writes();
    release();
    await learning;
    expect(cache.get(`Bearer ${token}`)).toBeUndefined();
  });

  it("keeps nothing learned during a write, even from a lookup that ended before the write did", async () => {
    await inner.putRuntime(runtimeRecord("rt_1", { expiresAt: t + 120_000 }));
    const { token, id } = await tokens.issue("runtime", "rt_1", 60_000);
    const setRuntimeExpiry = inner.setRuntimeExpiry;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    inner.setRuntimeExpiry = async (runtimeId, at) => (await gate, setRuntimeExpiry(runtimeId, at));
    const writing = cache.store.setRuntimeExpiry("rt_1", t + 1);
    await cache.learn(`Bearer ${token}`, identityOf("rt_1", id));
    expect(cache.get(`Bearer ${token}`)).toBeDefined();
    release();
    await writing;
    expect(cache.get(`Bearer ${token}`)).toBeUndefined();
  });

  it("starts afresh when full (10 000 entries), not before", async () => {
    await inner.putRuntime(runtimeRecord("rt_1", { expiresAt: t + 120_000 }));
    const first = await learned("rt_1");
    const headers: string[] = [first.header];
    for (let i = 1; i < 10_000; i++) {
      const { token, id } = await tokens.issue("runtime", "rt_1", 60_000);
      await cache.learn(`Bearer ${token}`, identityOf("rt_1", id));
      headers.push(`Bearer ${token}`);
    }
    expect(cache.get(first.header)).toBe(first.identity);
    expect(cache.get(headers[9_999]!)).toBeDefined();
    const last = await learned("rt_1");
    expect(cache.get(first.header)).toBeUndefined();
    expect(cache.get(headers[9_999]!)).toBeUndefined();
    expect(cache.get(last.header)).toBe(last.identity);
  });
});

describe("when a hit stops holding", () => {
  it("misses from the token's expiry on, by the injected clock", async () => {
    const a = await learned("rt_1", 30_000);
    t = a.expiresAt - 1;
    expect(cache.get(a.header)).toBe(a.identity);
    t = a.expiresAt;
    expect(cache.get(a.header)).toBeUndefined();
    // Dropped: the clock going back does not bring it back.
    t = a.expiresAt - 10_000;
    expect(cache.get(a.header)).toBeUndefined();
  });

  it("misses from the runtime's expiry on when that comes first", async () => {
    await inner.putRuntime(runtimeRecord("rt_1", { expiresAt: t + 5_000 }));
    const a = await learned("rt_1", 60_000);
    t += 4_999;
    expect(cache.get(a.header)).toBe(a.identity);
    t += 1;
    expect(cache.get(a.header)).toBeUndefined();
  });

  it("still forgets a runtime's other tokens after one of them expired from the cache", async () => {
    const short = await learned("rt_1", 10_000);
    const long = await learned("rt_1", 60_000);
    t = short.expiresAt;
    expect(cache.get(short.header)).toBeUndefined();
    expect(cache.get(long.header)).toBe(long.identity);
    await cache.store.removeRuntime("rt_1", "revoked");
    expect(cache.get(long.header)).toBeUndefined();
  });

  it("authenticates in full again after a second, however valid", async () => {
    const a = await learned("rt_1");
    perf += 1_000;
    expect(cache.get(a.header)).toBe(a.identity);
    perf += 1;
    expect(cache.get(a.header)).toBeUndefined();
  });
});

describe("every write that ends or changes a credential or a runtime forgets it", () => {
  it("a runtime's removal event forgets that runtime's tokens only", async () => {
    const events = storeWithoutEvents();
    inner = events.store;
    tokens = createTokenService({ store: inner });
    cache.close();
    cache = createTokenIdentityCache({ store: inner, now: () => t });
    const a = await learned("rt_1");
    const a2 = await learned("rt_1");
    const b = await learned("rt_2");
    events.ended("rt_1", "revoked");
    expect(cache.get(a.header)).toBeUndefined();
    expect(cache.get(a2.header)).toBeUndefined();
    expect(cache.get(b.header)).toBe(b.identity);
  });

  it("with a store that emits removals itself (the memory store)", async () => {
    inner = createMemoryStore();
    tokens = createTokenService({ store: inner });
    cache.close();
    cache = createTokenIdentityCache({ store: inner, now: () => t });
    const a = await learned("rt_1");
    await inner.removeRuntime("rt_1", "revoked");
    expect(cache.get(a.header)).toBeUndefined();
  });

  it.each([
    ["putRuntime", (s: Store) => s.putRuntime(runtimeRecord("rt_1"))],
    ["setRuntimeExpiry", (s: Store) => s.setRuntimeExpiry("rt_1", t + 90_000)],
    ["removeRuntime", (s: Store) => s.removeRuntime("rt_1", "revoked")],
  ])("%s forgets the runtime's tokens, not another runtime's", async (_name, write) => {
    const a = await learned("rt_1");
    const b = await learned("rt_2");
    await write(cache.store);
    expect(cache.get(a.header)).toBeUndefined();
    expect(cache.get(b.header)).toBe(b.identity);
  });

  it("the writes reach the store", async () => {
    await cache.store.putRuntime(runtimeRecord("rt_9", { expiresAt: t + 1_000 }));
    await cache.store.setRuntimeExpiry("rt_9", t + 2_000);
    expect((await inner.getRuntime("rt_9"))?.expiresAt).toBe(t + 2_000);
    await cache.store.putCredential("d1", { kind: "runtime", id: "tk_1", runtimeId: "rt_9", expiresAt: t + 60_000 });
    expect(await cache.store.rotateCredential("tk_1", "d2", { kind: "runtime", id: "tk_2", runtimeId: "rt_9", expiresAt: t + 70_000 }, t)).toBe(true);
    expect(await inner.getCredential("d2")).toMatchObject({ id: "tk_2" });
    await cache.store.deleteCredential("d2");
    expect(await inner.getCredential("d2")).toBeUndefined();
    expect(await cache.store.removeRuntime("rt_9", "revoked")).toBe(true);
    expect(await cache.store.sweep(t)).toBe(0);
  });

  it.each([
    ["putCredential", (s: Store) => s.putCredential("d", { kind: "runtime", id: "tk_n", runtimeId: "rt_3", expiresAt: t + 1_000 })],
    ["deleteCredential", (s: Store) => s.deleteCredential("d")],
    ["sweep", (s: Store) => s.sweep(t)],
  ])("%s forgets every token", async (_name, write) => {
    const a = await learned("rt_1");
    const b = await learned("rt_2");
    await write(cache.store);
    expect(cache.get(a.header)).toBeUndefined();
    expect(cache.get(b.header)).toBeUndefined();
  });

  it("rotateCredential forgets the rotated credential and the runtime named in the new record", async () => {
    const a = await learned("rt_1");
    const b = await learned("rt_2");
    const c = await learned("rt_3");
    // The old credential is rt_1's; the new record names rt_2 (the store refuses it, the cache forgets both).
    await cache.store.rotateCredential(a.id, "d", { kind: "runtime", id: "tk_new", runtimeId: "rt_2", expiresAt: t + 60_000 }, t);
    expect(cache.get(a.header)).toBeUndefined();
    expect(cache.get(b.header)).toBeUndefined();
    expect(cache.get(c.header)).toBe(c.identity);
  });

  it("rotateCredential of an unknown credential forgets only the named runtime", async () => {
    const a = await learned("rt_1");
    const b = await learned("rt_2");
    await cache.store.rotateCredential("tk_unknown", "d", { kind: "runtime", id: "tk_new", runtimeId: "rt_2", expiresAt: t + 60_000 }, t);
    expect(cache.get(a.header)).toBe(a.identity);
    expect(cache.get(b.header)).toBeUndefined();
  });

  it("close forgets everything and stops listening to the store", async () => {
    const a = await learned("rt_1");
    cache.close();
    expect(cache.get(a.header)).toBeUndefined();
    expect(unsubscribed).toHaveBeenCalledOnce();
  });
});
