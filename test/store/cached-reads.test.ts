/**
 * The read cache in front of a shared store: it answers routed calls' reads from memory, forgets
 * what the change feed invalidates, and reads through whenever the feed cannot be trusted.
 */
import { describe, expect, it } from "vitest";
import { createCachedReads } from "../../src/store/cached-reads.js";
import { createFeedHealth } from "../../src/store/store-feed.js";
import { createMemoryStore, type Store } from "../../src/store/index.js";
import { createRedisStore } from "../../src/redis.js";
import { findRedisServer, useRedisServer } from "../helpers/redis.js";
import { describeStoreConformance } from "./conformance.js";
import { credentialRecord, digestOf, registrationRecord, runtimeRecord, shortExpiry } from "./fixtures.js";

/** A memory store counting the reads that reach it, behind the cache, with a feed driven by hand. */
function setup(options: { maxAgeMs?: number } = {}) {
  const inner = createMemoryStore();
  const reads = { credential: 0, runtime: 0, registrations: 0 };
  const counted: Store = {
    ...inner,
    getCredential: (d) => (reads.credential++, inner.getCredential(d)),
    getRuntime: (id) => (reads.runtime++, inner.getRuntime(id)),
    listRegistrations: (s) => (reads.registrations++, inner.listRegistrations(s)),
  };
  let clock = 0;
  const feed = createFeedHealth({ silenceMs: 2_000, now: () => clock });
  feed.heard(false);
  const cached = createCachedReads(counted, feed, { monotonicNow: () => clock, ...options });
  return {
    inner,
    cached,
    feed,
    reads,
    advance(ms: number) {
      clock += ms;
    },
  };
}

describe("cached reads", () => {
  it("answers repeated reads from memory, as copies", async () => {
    const { inner, cached, reads } = setup();
    await inner.putRuntime(runtimeRecord("rt-1"));
    await inner.putCredential(digestOf("t1"), credentialRecord("tk-1", "rt-1"));
    await inner.putRegistration(registrationRecord("reg-1", "rt-1"));
    for (let i = 0; i < 5; i++) {
      expect((await cached.getCredential(digestOf("t1")))?.id).toBe("tk-1");
      expect((await cached.getRuntime("rt-1"))?.runtimeId).toBe("rt-1");
      expect((await cached.listRegistrations("kv.v1.Store")).map((r) => r.registrationId)).toEqual(["reg-1"]);
    }
    expect(reads).toEqual({ credential: 1, runtime: 1, registrations: 1 });
    const copy = (await cached.getRuntime("rt-1"))!;
    copy.requires.push({ type: "evil", versionRange: "*", optional: false });
    expect((await cached.getRuntime("rt-1"))!.requires.map((r) => r.type)).not.toContain("evil");
  });

  it("never caches an absent record: a credential issued elsewhere verifies at once", async () => {
    const { inner, cached } = setup();
    expect(await cached.getCredential(digestOf("later"))).toBeUndefined();
    await inner.putCredential(digestOf("later"), credentialRecord("tk-later", "rt-1"));
    expect((await cached.getCredential(digestOf("later")))?.id).toBe("tk-later");
  });

  it("forgets a credential the feed says ended (by its digest) and a runtime's credentials when it ends", async () => {
    const { inner, cached, feed } = setup();
    await inner.putRuntime(runtimeRecord("rt-1"));
    await inner.putCredential(digestOf("a"), credentialRecord("tk-a", "rt-1"));
    await inner.putCredential(digestOf("b"), credentialRecord("tk-b", "rt-1"));
    await cached.getCredential(digestOf("a"));
    await cached.getCredential(digestOf("b"));
    // Deleted behind the cache's back (another host), then announced.
    await inner.deleteCredential(digestOf("a"));
    feed.invalidate({ kind: "credential", digest: digestOf("a") });
    expect(await cached.getCredential(digestOf("a"))).toBeUndefined();
    expect((await cached.getCredential(digestOf("b")))?.id).toBe("tk-b");
    await inner.removeRuntime("rt-1", "revoked"); // emits runtime-ended on the inner store's listeners
    expect(await cached.getCredential(digestOf("b"))).toBeUndefined();
    expect(await cached.getRuntime("rt-1")).toBeUndefined();
  });

  it("re-reads a runtime the feed says changed, and a service list a registration event touched", async () => {
    const { inner, cached, feed, reads } = setup();
    await inner.putRuntime(runtimeRecord("rt-1"));
    await cached.getRuntime("rt-1");
    await inner.setHealth("rt-1", 3, "down", 5);
    feed.invalidate({ kind: "runtime", runtimeId: "rt-1" });
    expect((await cached.getRuntime("rt-1"))?.health).toBe(3);
    expect(reads.runtime).toBe(2);
    expect(await cached.listRegistrations("kv.v1.Store")).toEqual([]);
    await inner.putRegistration(registrationRecord("reg-1", "rt-1")); // the event reaches the cache
    expect((await cached.listRegistrations("kv.v1.Store")).map((r) => r.registrationId)).toEqual(["reg-1"]);
  });

  it("judges expiry with the clock: an expired credential is never served, an expired runtime is read again", async () => {
    const { inner, cached, reads } = setup();
    await inner.putRuntime(runtimeRecord("rt-1", { expiresAt: Date.now() + 60_000 }));
    const expiry = shortExpiry();
    await inner.putCredential(digestOf("short"), credentialRecord("tk-s", "rt-1", { expiresAt: expiry.at }));
    const seen = await cached.getCredential(digestOf("short"));
    if (expiry.before()) expect(seen).toBeDefined();
    await expiry.passed(); // past the record's expiresAt (wall clock), no event
    expect(await cached.getCredential(digestOf("short"))).toBeUndefined();

    const soon = Date.now() + 80;
    await inner.putRuntime(runtimeRecord("rt-2", { expiresAt: soon }));
    await cached.getRuntime("rt-2");
    await inner.setRuntimeExpiry("rt-2", Date.now() + 60_000); // refreshed elsewhere: no event
    await new Promise((r) => setTimeout(r, 120));
    expect((await cached.getRuntime("rt-2"))?.expiresAt).toBeGreaterThan(soon);
    expect(reads.runtime).toBe(2);
  });

  it("reads through and drops everything while the feed is silent, broken or lagging", async () => {
    const { inner, cached, feed, reads, advance } = setup();
    await inner.putRuntime(runtimeRecord("rt-1"));
    await inner.putCredential(digestOf("a"), credentialRecord("tk-a", "rt-1"));
    await cached.getCredential(digestOf("a"));
    await cached.getCredential(digestOf("a"));
    expect(reads.credential).toBe(1);

    // Silent past its bound: a revocation it did not hear of must not be accepted.
    advance(2_001);
    await inner.deleteCredential(digestOf("a"));
    expect(await cached.getCredential(digestOf("a"))).toBeUndefined();
    await inner.putCredential(digestOf("a"), credentialRecord("tk-a", "rt-1"));
    await cached.getCredential(digestOf("a"));
    await cached.getCredential(digestOf("a"));
    expect(reads.credential).toBe(4); // nothing kept while silent
    feed.heard(false);
    await cached.getCredential(digestOf("a"));
    await cached.getCredential(digestOf("a"));
    expect(reads.credential).toBe(5); // healthy again: cached

    feed.broken("event connection closed");
    await inner.deleteCredential(digestOf("a"));
    expect(await cached.getCredential(digestOf("a"))).toBeUndefined();

    await inner.putCredential(digestOf("a"), credentialRecord("tk-a", "rt-1"));
    feed.heard(false);
    await cached.getCredential(digestOf("a"));
    feed.heard(true); // a full batch: behind, or the stream was trimmed past this reader
    await inner.deleteCredential(digestOf("a"));
    expect(await cached.getCredential(digestOf("a"))).toBeUndefined();
    expect(feed.healthy()).toBe(false);
    feed.heard(false);
    expect(feed.healthy()).toBe(true);
  });

  it("does not keep a read that raced an invalidation", async () => {
    const { inner, cached, feed, reads } = setup();
    await inner.putRuntime(runtimeRecord("rt-1"));
    await inner.putCredential(digestOf("a"), credentialRecord("tk-a", "rt-1"));
    const racing = cached.getCredential(digestOf("a")); // reads the live record…
    feed.invalidate({ kind: "credential", digest: digestOf("a") }); // …while its revocation is announced
    await inner.deleteCredential(digestOf("a"));
    expect((await racing)?.id).toBe("tk-a");
    expect(await cached.getCredential(digestOf("a"))).toBeUndefined();
    expect(reads.credential).toBe(2);
  });

  it("re-reads entries older than maxAgeMs even without an event", async () => {
    const { inner, cached, reads, advance, feed } = setup({ maxAgeMs: 1_000 });
    await inner.putRuntime(runtimeRecord("rt-1"));
    await cached.getRuntime("rt-1");
    advance(1_001);
    feed.heard(false);
    await cached.getRuntime("rt-1");
    expect(reads.runtime).toBe(2);
  });

  it("validates its options", () => {
    const feed = createFeedHealth({ silenceMs: 1 });
    expect(() => createCachedReads(createMemoryStore(), feed, { maxEntries: 0 })).toThrow(/maxEntries/);
    expect(() => createCachedReads(createMemoryStore(), feed, { maxAgeMs: -1 })).toThrow(/maxAgeMs/);
  });
});

describe("feed health", () => {
  it("with several readers, is healthy only while every one has read recently and none is behind", () => {
    let clock = 0;
    const feed = createFeedHealth({ silenceMs: 100, sources: 2, now: () => clock });
    expect(feed.healthy()).toBe(false); // nothing read yet
    feed.heard(false, 0);
    expect(feed.healthy()).toBe(false);
    feed.heard(false, 1);
    expect(feed.healthy()).toBe(true);
    clock = 80;
    feed.heard(false, 0);
    clock = 150; // reader 1 silent for 150 ms
    expect(feed.healthy()).toBe(false);
    feed.heard(false, 1);
    feed.heard(true, 0); // reader 0 a full batch behind
    expect(feed.healthy()).toBe(false);
    feed.heard(false, 0);
    expect(feed.healthy()).toBe(true);
    feed.broken("read failed", 1);
    expect(feed.healthy()).toBe(false);
    feed.heard(false, 1);
    expect(feed.healthy()).toBe(true);
    feed.broken("store reset"); // every reader must read again
    feed.heard(false, 0);
    expect(feed.healthy()).toBe(false);
  });
});

// The cache must keep every promise of the Store contract, over the real shared store.
describe.skipIf(findRedisServer() === undefined)("cached reads over the Redis store", () => {
  const redisServer = useRedisServer();
  let n = 0;
  describeStoreConformance("redis + read cache", async () => {
    const shared = await createRedisStore({ url: redisServer().url, keyPrefix: `cached${++n}:` });
    const store = createCachedReads(shared, shared.feed);
    return { store, cleanup: () => store.close() };
  });
});
