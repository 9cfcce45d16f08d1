import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { createSecretCache } from "../../../src/secrets/index.js";
import { createCountingProvider } from "./fake-provider.js";
import { text } from "../../helpers/secrets.js";

function setup(initial: Record<string, string>, options: Parameters<typeof createSecretCache>[1] = {}) {
  const backend = createCountingProvider(initial);
  const clock = { t: 1_000 };
  const cache = createSecretCache(backend, { now: () => clock.t, ...options });
  return { backend, clock, cache };
}

describe("secret cache", () => {
  it("serves hits within the TTL and refetches (rotation) after it", async () => {
    const { backend, clock, cache } = setup({ a: "one" }, { ttlMs: 100 });
    expect(text((await cache.get("a")).value)).toBe("one");
    backend.values.set("a", "two");
    expect(text((await cache.get("a")).value)).toBe("one");
    expect(backend.calls.get("a")).toBe(1);
    clock.t += 101;
    expect(text((await cache.get("a")).value)).toBe("two");
    expect(backend.calls.get("a")).toBe(2);
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 2, errors: 0, size: 1 });
    expect(cache.stats().hitRate).toBeCloseTo(1 / 3);
  });

  it("keys by version too", async () => {
    const { backend, cache } = setup({ a: "one" });
    await cache.get("a");
    await cache.get("a", { version: "7" });
    await cache.get("a", { version: "7" });
    expect(backend.calls.get("a")).toBe(2);
  });

  it("single-flight: concurrent misses for one key make one backend call", async () => {
    const { backend, cache } = setup({ a: "one", b: "two" });
    let open!: () => void;
    backend.gate = new Promise((resolve) => (open = resolve));
    const pending = [...Array(50)].map(() => cache.get("a")).concat([cache.get("b")]);
    open();
    const results = await Promise.all(pending);
    expect(results.slice(0, 50).every((r) => text(r.value) === "one")).toBe(true);
    expect(backend.calls.get("a")).toBe(1);
    expect(backend.calls.get("b")).toBe(1);
    // Each caller owns its buffer: zeroing one leaves the others and the cache intact.
    results[0]!.value.fill(0);
    expect(text(results[1]!.value)).toBe("one");
    expect(text((await cache.get("a")).value)).toBe("one");
  });

  it("single-flight failures: concurrent callers share one failing call", async () => {
    const { backend, cache } = setup({ a: "one" });
    backend.failWith = Code.Unavailable;
    let open!: () => void;
    backend.gate = new Promise((resolve) => (open = resolve));
    const pending = [...Array(10)].map(() => cache.get("a").catch((e: unknown) => e));
    open();
    const errors = await Promise.all(pending);
    expect(errors.every((e) => (e as { code: Code }).code === Code.Unavailable)).toBe(true);
    expect(backend.calls.get("a")).toBe(1);
  });

  it("evicts the least recently used entry beyond maxEntries", async () => {
    const { backend, cache } = setup({ a: "1", b: "2", c: "3" }, { maxEntries: 2 });
    await cache.get("a");
    await cache.get("b");
    await cache.get("a"); // a is now most recent
    await cache.get("c"); // evicts b
    expect(cache.stats()).toMatchObject({ size: 2, evictions: 1 });
    await cache.get("a");
    expect(backend.calls.get("a")).toBe(1);
    await cache.get("b");
    expect(backend.calls.get("b")).toBe(2);
  });

  it("backs off a failing key instead of hammering the backend", async () => {
    const { backend, clock, cache } = setup({}, { errorBackoffMs: 500 });
    backend.failWith = Code.Unavailable;
    for (let i = 0; i < 20; i++) await expect(cache.get("a")).rejects.toMatchObject({ code: Code.Unavailable });
    expect(backend.calls.get("a")).toBe(1);
    clock.t += 501;
    await expect(cache.get("a")).rejects.toMatchObject({ code: Code.Unavailable });
    expect(backend.calls.get("a")).toBe(2);
    expect(cache.stats().errors).toBe(2);
    backend.failWith = undefined;
    backend.values.set("a", "back");
    clock.t += 501;
    expect(text((await cache.get("a")).value)).toBe("back");
  });

  it("serves a stale value through an outage until the stale window ends, then fails clearly", async () => {
    const { backend, clock, cache } = setup({ a: "cached" }, { ttlMs: 100, staleWindowMs: 1000, errorBackoffMs: 50 });
    await cache.get("a");
    backend.failWith = Code.Unavailable;
    clock.t += 150;
    expect(text((await cache.get("a")).value)).toBe("cached");
    clock.t += 600; // still within expiry + window (100 + 1000)
    expect(text((await cache.get("a")).value)).toBe("cached");
    expect(cache.stats().staleServed).toBe(2);
    clock.t += 500; // window over
    await expect(cache.get("a")).rejects.toMatchObject({ code: Code.Unavailable, secretName: "a" });
  });

  it("does not serve stale values over authoritative answers (NotFound, PermissionDenied)", async () => {
    const { backend, clock, cache } = setup({ a: "cached", b: "cached" }, { ttlMs: 100, staleWindowMs: 10_000, errorBackoffMs: 0 });
    await cache.get("a");
    await cache.get("b");
    clock.t += 150;
    backend.values.delete("a");
    await expect(cache.get("a")).rejects.toMatchObject({ code: Code.NotFound });
    backend.failWith = Code.PermissionDenied;
    await expect(cache.get("b")).rejects.toMatchObject({ code: Code.PermissionDenied });
  });

  it("invalidates one name (all versions) or everything", async () => {
    const { backend, cache } = setup({ a: "1", b: "2" });
    await cache.get("a");
    await cache.get("a", { version: "3" });
    await cache.get("b");
    cache.invalidate("a");
    await cache.get("a");
    await cache.get("b");
    expect(backend.calls.get("a")).toBe(3);
    expect(backend.calls.get("b")).toBe(1);
    cache.invalidateAll();
    expect(cache.stats().size).toBe(0);
    await cache.get("b");
    expect(backend.calls.get("b")).toBe(2);
  });

  it("getMany goes through the cache; list and health pass through", async () => {
    const { backend, cache } = setup({ a: "1" });
    await cache.getMany([{ name: "a", version: "", optional: false }, { name: "z", version: "", optional: true }]);
    await cache.getMany([{ name: "a", version: "", optional: false }]);
    expect(backend.calls.get("a")).toBe(1);
    expect(await cache.list()).toEqual(["a"]);
    expect(await cache.health()).toEqual({ ok: true });
  });

  it("validates its options", () => {
    const backend = createCountingProvider();
    expect(() => createSecretCache(backend, { ttlMs: -1 })).toThrow(TypeError);
    expect(() => createSecretCache(backend, { maxEntries: 0 })).toThrow(TypeError);
    expect(() => createSecretCache(backend, { staleWindowMs: Number.NaN })).toThrow(TypeError);
  });
});
