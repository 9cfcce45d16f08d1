import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { createSecretCache } from "../../../src/secrets/cache.js";
import { createCountingProvider } from "./fake-provider.js";
import { recordingLogger } from "./recording-logger.js";
import { text } from "../../helpers/secrets.js";

function setup(initial: Record<string, string>, options: Parameters<typeof createSecretCache>[1] = {}) {
  const backend = createCountingProvider(initial);
  const clock = { t: 1_000 };
  const cache = createSecretCache(backend, { now: () => clock.t, ...options });
  return { backend, clock, cache };
}

describe("secret cache edges", () => {
  it("defaults: a 5 minute TTL, then a 15 minute stale window past it", async () => {
    const { backend, clock, cache } = setup({ a: "one" }, { errorBackoffMs: 0 });
    await cache.get("a");
    clock.t += 5 * 60_000 - 1;
    await cache.get("a");
    expect(backend.calls.get("a")).toBe(1);
    clock.t += 1;
    await cache.get("a");
    expect(backend.calls.get("a")).toBe(2);
    backend.failWith = Code.Unavailable;
    clock.t += 5 * 60_000 + 15 * 60_000 - 1; // one ms before the stale window ends
    expect(text((await cache.get("a")).value)).toBe("one");
    clock.t += 1;
    await expect(cache.get("a")).rejects.toMatchObject({ code: Code.Unavailable });
  });

  it("a value is fresh strictly before its expiry, stale strictly before the window's end, backed off strictly before retryAt", async () => {
    const { backend, clock, cache } = setup({ a: "one" }, { ttlMs: 100, staleWindowMs: 50, errorBackoffMs: 20 });
    await cache.get("a");
    clock.t += 100; // exactly at expiry: asked again
    await cache.get("a");
    expect(backend.calls.get("a")).toBe(2);
    backend.failWith = Code.Unavailable;
    clock.t += 100; // expired at t; window to t + 50
    expect(text((await cache.get("a")).value)).toBe("one");
    expect(backend.calls.get("a")).toBe(3);
    clock.t += 19; // inside the backoff
    expect(text((await cache.get("a")).value)).toBe("one");
    expect(backend.calls.get("a")).toBe(3);
    clock.t += 1; // backoff over: asked again
    expect(text((await cache.get("a")).value)).toBe("one");
    expect(backend.calls.get("a")).toBe(4);
    clock.t += 30; // exactly at the window's end
    await expect(cache.get("a")).rejects.toMatchObject({ code: Code.Unavailable, secretName: "a" });
  });

  it("accepts maxEntries 1 and zero durations; refuses bad options naming them", () => {
    const backend = createCountingProvider();
    expect(() => createSecretCache(backend, { maxEntries: 1, ttlMs: 0, staleWindowMs: 0, errorBackoffMs: 0 })).not.toThrow();
    expect(() => createSecretCache(backend, { ttlMs: -1 })).toThrow(new TypeError("secret cache ttlMs must be a non-negative number"));
    expect(() => createSecretCache(backend, { errorBackoffMs: Infinity })).toThrow(new TypeError("secret cache errorBackoffMs must be a non-negative number"));
    expect(() => createSecretCache(backend, { maxEntries: 0 })).toThrow(new TypeError("secret cache maxEntries must be at least 1"));
    expect(() => createSecretCache(backend, { maxEntries: 0.5 })).toThrow(new TypeError("secret cache maxEntries must be at least 1"));
  });

  it("asks the backend for the version requested; no version and an empty one share an entry", async () => {
    const { backend, cache } = setup({ a: "one" });
    expect((await cache.get("a", { version: "7" })).version).toBe("7");
    expect((await cache.get("a")).version).toBe("");
    await cache.get("a", { version: "" });
    await cache.get("a", {});
    expect(backend.calls.get("a")).toBe(2);
  });

  it("a fetch that ends after invalidateAll neither refills the cache nor leaves a backoff behind", async () => {
    const { backend, cache } = setup({ a: "one" });
    let open!: () => void;
    backend.gate = new Promise((resolve) => (open = resolve));
    const late = cache.get("a");
    cache.invalidateAll();
    open();
    expect(text((await late).value)).toBe("one");
    expect(cache.stats().size).toBe(0);

    backend.failWith = Code.Unavailable;
    backend.gate = new Promise((resolve) => (open = resolve));
    const failing = cache.get("a");
    cache.invalidateAll();
    open();
    // No entry to serve stale from: the caller gets the backend's error, not a crash.
    await expect(failing).rejects.toMatchObject({ code: Code.Unavailable, secretName: "a" });
    expect(cache.stats().size).toBe(0);
    backend.failWith = undefined;
    backend.gate = undefined;
    expect(text((await cache.get("a")).value)).toBe("one"); // not backed off
    expect(backend.calls.get("a")).toBe(3);
  });

  it("logs failures and stale serving with names and codes, never values", async () => {
    const { logger, lines } = recordingLogger();
    const { backend, clock, cache } = setup({ a: "sk-cached-value" }, { ttlMs: 10, staleWindowMs: 1000, errorBackoffMs: 0, logger });
    await cache.get("a");
    backend.failWith = Code.Unavailable;
    clock.t += 30;
    await cache.get("a");
    expect(lines).toEqual([
      ["warn", { secretName: "a", code: Code.Unavailable, backend: "counting" }, "secret backend call failed"],
      ["warn", { secretName: "a", code: Code.Unavailable, staleForMs: 20 }, "secret backend failing; serving cached value"],
    ]);
    expect(JSON.stringify(lines)).not.toContain("sk-cached-value");
  });

  it("invalidates exactly one name with all its versions, not names that end or start alike", async () => {
    const { backend, cache } = setup({ a: "1", ba: "2", ab: "3" });
    for (const name of ["a", "ba", "ab"]) await cache.get(name);
    await cache.get("a", { version: "9" });
    cache.invalidate("a");
    expect(cache.stats().size).toBe(2);
    await cache.get("a", { version: "9" });
    await cache.get("ba");
    await cache.get("ab");
    expect([backend.calls.get("a"), backend.calls.get("ba"), backend.calls.get("ab")]).toEqual([3, 1, 1]);
    cache.invalidate();
    expect(cache.stats().size).toBe(0);
  });

  it("reports a zero hit rate before any call, passes locate through and closes the backend", async () => {
    const backend = createCountingProvider({ a: "1" });
    let closed = 0;
    Object.assign(backend, { locate: (name: string) => `counting:${name}`, close: async () => void closed++ });
    const cache = createSecretCache(backend);
    expect(cache.stats()).toEqual({ hits: 0, misses: 0, errors: 0, staleServed: 0, evictions: 0, hitRate: 0, size: 0 });
    expect(cache.locate!("x")).toBe("counting:x");
    await cache.get("a");
    await cache.close!();
    expect(closed).toBe(1);
    expect(cache.stats().size).toBe(0);
    const bare = createSecretCache(createCountingProvider({ a: "1" }));
    expect(bare.locate).toBeUndefined();
    await bare.get("a");
    await expect(bare.close!()).resolves.toBeUndefined();
    expect(bare.stats().size).toBe(0);
  });
});
