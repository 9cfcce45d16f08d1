/**
 * When a caller's credential ends (its runtime removed or expired unrefreshed, its certificate or
 * JWT past `expiresAt`), judged by the injected host clock, and how streams end with it.
 * Written against the survivors of `npm run mutate -- identity` (docs/testing.md).
 */
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  createCredentialLifetime,
  createStreamLifetimeInterceptor,
  type CredentialLifetime,
} from "../../../src/identity/credential-lifetime.js";
import { identityKey, type Identity } from "../../../src/identity/identity.js";
import type { RuntimeRecord } from "../../../src/store/types.js";
import { runtimeRecord } from "../../store/fixtures.js";

const T0 = 1_700_000_000_000;
const runtimeId = "rt_1";
const runtimeCaller: Identity = { kind: "runtime", subject: `runtime:${runtimeId}`, method: "token", runtimeId, roles: [] };
const external = (expiresAt?: number): Identity => ({
  kind: "external",
  subject: "spiffe://td/op",
  method: "mtls",
  roles: [],
  ...(expiresAt === undefined ? {} : { expiresAt }),
});

function fakeStore() {
  const runtimes = new Map<string, RuntimeRecord>();
  const listeners = new Set<(id: string, cause: string) => void>();
  let failing = 0;
  const store = {
    getRuntime: vi.fn(async (id: string) => {
      if (failing > 0) {
        failing--;
        throw new Error("store down");
      }
      return runtimes.get(id);
    }),
    onRuntimeEnded: vi.fn((listener: (id: string, cause: string) => void) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    }),
  };
  return {
    store,
    runtimes,
    listeners,
    failNext: (n: number) => (failing = n),
    end: (id: string, cause: string) => {
      for (const l of [...listeners]) l(id, cause);
    },
  };
}

describe("createCredentialLifetime", () => {
  let t: number;
  let lifetime: CredentialLifetime;
  let fake: ReturnType<typeof fakeStore>;
  const advance = async (ms: number) => {
    t += ms;
    await vi.advanceTimersByTimeAsync(ms);
  };
  const watch = (identity: Identity, options?: { firstCheckAfterMs?: number }) => {
    const ends: ConnectError[] = [];
    const stop = lifetime.watch(identity, (e) => ends.push(e), options);
    return { ends, stop };
  };

  beforeEach(() => {
    vi.useFakeTimers();
    t = T0;
    fake = fakeStore();
    lifetime = createCredentialLifetime({ store: fake.store as never, now: () => t });
  });
  afterEach(() => {
    lifetime.close();
    vi.useRealTimers();
  });

  it("ends a certificate or JWT at its expiresAt by the host clock, not a millisecond before", async () => {
    const { ends } = watch(external(T0 + 5_000));
    await advance(4_999);
    expect(ends).toEqual([]);
    await advance(1);
    expect(ends).toHaveLength(1);
    expect(ends[0]!.code).toBe(Code.Unauthenticated);
    expect(ends[0]!.rawMessage).toBe("the caller's credential expired");
    await advance(10_000);
    expect(ends).toHaveLength(1);
  });

  it("ends at once a credential that expires now or has expired", async () => {
    expect(watch(external(T0)).ends).toHaveLength(1);
    expect(watch(external(T0 - 1)).ends).toHaveLength(1);
    expect(watch(external(T0 + 1)).ends).toHaveLength(0);
  });

  it("never ends an external credential without an expiry, and arms no timer for it", async () => {
    const { ends } = watch(external());
    expect(vi.getTimerCount()).toBe(0);
    await advance(365 * 24 * 3_600_000);
    expect(ends).toEqual([]);
    expect(fake.store.getRuntime).not.toHaveBeenCalled();
    expect(fake.store.onRuntimeEnded).not.toHaveBeenCalled();
  });

  it("ends a runtime caller when its runtime is removed, naming the cause, once", async () => {
    fake.runtimes.set(runtimeId, runtimeRecord(runtimeId, { expiresAt: T0 + 60_000 }));
    const { ends } = watch(runtimeCaller);
    await advance(0);
    expect(ends).toEqual([]);
    fake.end("rt_other", "revoked");
    expect(ends).toEqual([]);
    fake.end(runtimeId, "revoked");
    fake.end(runtimeId, "swept");
    expect(ends).toHaveLength(1);
    expect(ends[0]!.rawMessage).toBe("the caller's runtime ended (revoked)");
    expect(ends[0]!.code).toBe(Code.Unauthenticated);
  });

  it("ends a runtime caller whose runtime is gone or expired at the first check", async () => {
    const gone = watch(runtimeCaller);
    await advance(0);
    expect(gone.ends.map((e) => e.rawMessage)).toEqual(["the caller's runtime token expired or was revoked"]);

    fake.runtimes.set(runtimeId, runtimeRecord(runtimeId, { expiresAt: T0 }));
    const expired = watch(runtimeCaller);
    await advance(0);
    expect(expired.ends.map((e) => e.code)).toEqual([Code.Unauthenticated]);
  });

  it("ends a runtime caller at its runtime's expiry unless a refresh moved it", async () => {
    const record = runtimeRecord(runtimeId, { expiresAt: T0 + 10_000 });
    fake.runtimes.set(runtimeId, record);
    const { ends } = watch(runtimeCaller);
    await advance(0);
    expect(fake.store.getRuntime).toHaveBeenCalledTimes(1);
    // Refreshed before the expiry: the check at the old expiry finds the new one and waits for it.
    record.expiresAt = T0 + 20_000;
    await advance(9_999);
    expect(fake.store.getRuntime).toHaveBeenCalledTimes(1);
    await advance(1);
    expect(fake.store.getRuntime).toHaveBeenCalledTimes(2);
    expect(ends).toEqual([]);
    await advance(9_999);
    expect(ends).toEqual([]);
    await advance(1);
    expect(ends.map((e) => e.rawMessage)).toEqual(["the caller's runtime token expired or was revoked"]);
  });

  it("ends a bound runtime caller at its certificate's expiry when that comes first", async () => {
    fake.runtimes.set(runtimeId, runtimeRecord(runtimeId, { expiresAt: T0 + 60_000 }));
    const { ends } = watch({ ...runtimeCaller, expiresAt: T0 + 1_000 });
    await advance(999);
    expect(ends).toEqual([]);
    await advance(1);
    expect(ends.map((e) => e.rawMessage)).toEqual(["the caller's credential expired"]);
  });

  it("waits for the runtime's expiry when the certificate outlives it", async () => {
    fake.runtimes.set(runtimeId, runtimeRecord(runtimeId, { expiresAt: T0 + 1_000 }));
    const { ends } = watch({ ...runtimeCaller, expiresAt: T0 + 60_000 });
    await advance(1_000);
    expect(ends.map((e) => e.rawMessage)).toEqual(["the caller's runtime token expired or was revoked"]);
  });

  it("retries a failed store read a second later, not before", async () => {
    fake.runtimes.set(runtimeId, runtimeRecord(runtimeId, { expiresAt: T0 + 60_000 }));
    fake.failNext(1);
    const { ends } = watch(runtimeCaller);
    await advance(0);
    expect(fake.store.getRuntime).toHaveBeenCalledTimes(1);
    await advance(999);
    expect(fake.store.getRuntime).toHaveBeenCalledTimes(1);
    await advance(1);
    expect(fake.store.getRuntime).toHaveBeenCalledTimes(2);
    fake.runtimes.delete(runtimeId);
    await advance(60_000);
    expect(ends).toHaveLength(1);
  });

  it("does not retry a failed read for a watch stopped meanwhile", async () => {
    let fail!: (e: Error) => void;
    fake.store.getRuntime.mockImplementationOnce(() => new Promise((_, reject) => (fail = reject)));
    const { ends, stop } = watch(runtimeCaller);
    stop();
    fail(new Error("store down"));
    await advance(0);
    // No retry is even scheduled.
    expect(vi.getTimerCount()).toBe(0);
    await advance(5_000);
    expect(fake.store.getRuntime).toHaveBeenCalledTimes(1);
    expect(ends).toEqual([]);
  });

  it("ignores a store read that answers after the watch stopped", async () => {
    let answer!: (r: RuntimeRecord | undefined) => void;
    fake.store.getRuntime.mockImplementationOnce(() => new Promise((resolve) => (answer = resolve)));
    const { ends, stop } = watch(runtimeCaller);
    stop();
    answer(undefined);
    await advance(0);
    expect(ends).toEqual([]);
  });

  it("arms no expiry timer from a store read that answers after the watch stopped", async () => {
    let answer!: (r: RuntimeRecord | undefined) => void;
    fake.store.getRuntime.mockImplementationOnce(() => new Promise((resolve) => (answer = resolve)));
    const { stop } = watch(runtimeCaller);
    stop();
    answer(runtimeRecord(runtimeId, { expiresAt: T0 + 60_000 }));
    await advance(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("ends every watch of a runtime when it is removed", async () => {
    fake.runtimes.set(runtimeId, runtimeRecord(runtimeId, { expiresAt: T0 + 60_000 }));
    const watches = [watch(runtimeCaller), watch(runtimeCaller), watch(runtimeCaller)];
    await advance(0);
    fake.end(runtimeId, "revoked");
    expect(watches.map((w) => w.ends.length)).toEqual([1, 1, 1]);
  });

  it("caps a far expiry at setTimeout's ceiling instead of firing at once", async () => {
    fake.runtimes.set(runtimeId, runtimeRecord(runtimeId, { expiresAt: T0 + 100 * 24 * 3_600_000 }));
    const { ends } = watch(runtimeCaller);
    await advance(1_000);
    expect(fake.store.getRuntime).toHaveBeenCalledTimes(1);
    await advance(2_147_483_647 - 1_000);
    expect(fake.store.getRuntime).toHaveBeenCalledTimes(2);
    expect(ends).toEqual([]);
  });

  it("stops: no end, no store read, no listener left; other watches of the runtime still end", async () => {
    fake.runtimes.set(runtimeId, runtimeRecord(runtimeId, { expiresAt: T0 + 5_000 }));
    const first = watch(runtimeCaller);
    const second = watch(runtimeCaller);
    await advance(0);
    first.stop();
    fake.end(runtimeId, "revoked");
    expect(first.ends).toEqual([]);
    expect(second.ends).toHaveLength(1);
    await advance(10_000);
    expect(first.ends).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a stopped watch does not end when its expiry passes", async () => {
    const { ends, stop } = watch(external(T0 + 1_000));
    stop();
    expect(vi.getTimerCount()).toBe(0);
    await advance(2_000);
    expect(ends).toEqual([]);
  });

  it("subscribes to the store once for every watch, and watches again after all stopped", async () => {
    fake.runtimes.set(runtimeId, runtimeRecord(runtimeId, { expiresAt: T0 + 60_000 }));
    const a = watch(runtimeCaller);
    const b = watch({ ...runtimeCaller, runtimeId: "rt_2" });
    expect(fake.store.onRuntimeEnded).toHaveBeenCalledTimes(1);
    a.stop();
    a.stop();
    b.stop();
    const c = watch(runtimeCaller);
    fake.end(runtimeId, "swept");
    expect(c.ends.map((e) => e.rawMessage)).toEqual(["the caller's runtime ended (swept)"]);
    expect(a.ends).toEqual([]);
  });

  it("defers the first store read, and checks at the deferral's end", async () => {
    fake.runtimes.set(runtimeId, runtimeRecord(runtimeId, { expiresAt: T0 + 60_000 }));
    const { ends } = watch(runtimeCaller, { firstCheckAfterMs: 1_000 });
    await advance(0);
    expect(fake.store.getRuntime).not.toHaveBeenCalled();
    await advance(900);
    expect(fake.store.getRuntime).not.toHaveBeenCalled();
    await advance(100);
    expect(fake.store.getRuntime).toHaveBeenCalledTimes(1);
    // Removals are heard during the deferral too.
    fake.end(runtimeId, "revoked");
    expect(ends).toHaveLength(1);
  });

  it("hears a removal while the first check is deferred, and drops the deferred check", async () => {
    const { ends } = watch(runtimeCaller, { firstCheckAfterMs: 5_000 });
    fake.end(runtimeId, "revoked");
    expect(ends).toHaveLength(1);
    await advance(10_000);
    expect(fake.store.getRuntime).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a deferred check comes at an earlier credential expiry", async () => {
    const { ends } = watch(external(T0 + 200), { firstCheckAfterMs: 10_000 });
    await advance(100);
    expect(ends).toEqual([]);
    await advance(100);
    expect(ends).toHaveLength(1);
  });

  it("runs only the deferred checks that are due; one shared timer, gone when none is left", async () => {
    fake.runtimes.set(runtimeId, runtimeRecord(runtimeId, { expiresAt: T0 + 600_000 }));
    watch(runtimeCaller, { firstCheckAfterMs: 100 });
    const late = watch(runtimeCaller, { firstCheckAfterMs: 300 });
    expect(vi.getTimerCount()).toBe(1);
    await advance(100);
    expect(fake.store.getRuntime).toHaveBeenCalledTimes(1);
    await advance(100);
    expect(fake.store.getRuntime).toHaveBeenCalledTimes(1);
    late.stop();
    await advance(200);
    expect(fake.store.getRuntime).toHaveBeenCalledTimes(1);
    // Only the first watch's expiry timer is left: the shared interval stopped with its last watch.
    expect(vi.getTimerCount()).toBe(1);
    watch(runtimeCaller, { firstCheckAfterMs: 100 });
    await advance(100);
    expect(fake.store.getRuntime).toHaveBeenCalledTimes(2);
  });

  it("a zero deferral checks at once", async () => {
    watch(runtimeCaller, { firstCheckAfterMs: 0 });
    expect(fake.store.getRuntime).toHaveBeenCalledTimes(1);
  });

  it("close drops every watch: no end after it, no timer left", async () => {
    fake.runtimes.set(runtimeId, runtimeRecord(runtimeId, { expiresAt: T0 + 60_000 }));
    const a = watch(runtimeCaller, { firstCheckAfterMs: 1_000 });
    lifetime.close();
    fake.end(runtimeId, "revoked");
    expect(fake.listeners.size).toBe(0);
    await advance(2_000);
    expect(a.ends).toEqual([]);
    expect(fake.store.getRuntime).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
    // Usable again after close: it subscribes anew.
    const b = watch(runtimeCaller);
    fake.end(runtimeId, "revoked");
    expect(b.ends).toHaveLength(1);
  });
});

describe("createCredentialLifetime defaults", () => {
  it("judges expiry by Date.now without an injected clock", async () => {
    const lifetime = createCredentialLifetime({ store: fakeStore().store as never });
    const ends: ConnectError[] = [];
    lifetime.watch(external(Date.now() - 1), (e) => ends.push(e));
    lifetime.watch(external(Date.now() + 60_000), (e) => ends.push(e));
    expect(ends).toHaveLength(1);
    lifetime.close();
  });
});

/** A lifetime the test ends by hand. */
function manualLifetime() {
  const watches: { identity: Identity; end: (e: ConnectError) => void; stopped: boolean }[] = [];
  const lifetime: CredentialLifetime = {
    watch(identity, onEnd) {
      const w = { identity, end: onEnd, stopped: false };
      watches.push(w);
      return () => (w.stopped = true);
    },
    close() {},
  };
  return { lifetime, watches };
}

/** An async iterable the test feeds message by message; records return(). */
function feed<T>() {
  const queue: ((r: IteratorResult<T>) => void)[] = [];
  const results: Promise<IteratorResult<T>>[] = [];
  let returned = 0;
  let failWith: unknown;
  const iterable: AsyncIterable<T> = {
    [Symbol.asyncIterator]: () => ({
      next: () => {
        if (failWith !== undefined) return Promise.reject(failWith);
        const p = new Promise<IteratorResult<T>>((resolve) => queue.push(resolve));
        results.push(p);
        return p;
      },
      return: async () => {
        returned++;
        return { done: true, value: undefined };
      },
    }),
  };
  return {
    iterable,
    push: (value: T) => queue.shift()!({ done: false, value }),
    finish: () => queue.shift()!({ done: true, value: undefined }),
    fail: (e: unknown) => (failWith = e),
    returned: () => returned,
  };
}

describe("createStreamLifetimeInterceptor", () => {
  const unauth = new ConnectError("the caller's credential expired", Code.Unauthenticated);
  const request = (stream: boolean, identity?: Identity) => {
    const contextValues = createContextValues();
    if (identity) contextValues.set(identityKey, identity);
    return { stream, contextValues, signal: new AbortController().signal, header: new Headers() };
  };
  const run = async (
    req: ReturnType<typeof request>,
    next: (r: ReturnType<typeof request>) => Promise<unknown>,
    lifetime: CredentialLifetime,
  ) => (createStreamLifetimeInterceptor(lifetime)(next as never) as unknown as (r: unknown) => Promise<{ stream: boolean; message: AsyncIterable<number> }>)(req);

  it("passes unary requests and unauthenticated streams through unwatched", async () => {
    const { lifetime, watches } = manualLifetime();
    for (const req of [request(false, runtimeCaller), request(true)]) {
      const next = vi.fn(async (r: unknown) => r);
      expect(await run(req, next, lifetime)).toBe(req);
      expect(next).toHaveBeenCalledWith(req);
    }
    expect(watches).toHaveLength(0);
  });

  it("stops watching when the handler fails, and passes the failure on", async () => {
    const { lifetime, watches } = manualLifetime();
    const boom = new ConnectError("boom", Code.Internal);
    await expect(run(request(true, runtimeCaller), async () => Promise.reject(boom), lifetime)).rejects.toBe(boom);
    expect(watches[0]!.stopped).toBe(true);
  });

  it("stops watching when the response is not a stream", async () => {
    const { lifetime, watches } = manualLifetime();
    const res = { stream: false, message: 1 };
    expect(await run(request(true, runtimeCaller), async () => res, lifetime)).toBe(res);
    expect(watches[0]!.stopped).toBe(true);
  });

  it("aborts the handler's signal and ends the response stream Unauthenticated when the credential ends", async () => {
    const { lifetime, watches } = manualLifetime();
    const inner = feed<number>();
    let signal!: AbortSignal;
    const res = await run(
      request(true, runtimeCaller),
      async (r) => ((signal = r.signal), { stream: true, message: inner.iterable }),
      lifetime,
    );
    expect(watches[0]!.identity).toBe(runtimeCaller);
    const it = res.message[Symbol.asyncIterator]();
    const first = it.next();
    inner.push(1);
    expect(await first).toEqual({ done: false, value: 1 });
    expect(signal.aborted).toBe(false);
    const pending = it.next();
    watches[0]!.end(unauth);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(unauth);
    await expect(pending).rejects.toBe(unauth);
    expect(watches[0]!.stopped).toBe(true);
    expect(inner.returned()).toBe(1);
    // After the end, every read is refused the same way.
    await expect(it.next()).rejects.toBe(unauth);
    expect(inner.returned()).toBe(1);
  });

  it("the handler's own signal still aborts it", async () => {
    const { lifetime } = manualLifetime();
    const client = new AbortController();
    let signal!: AbortSignal;
    const req = { ...request(true, runtimeCaller), signal: client.signal };
    await run(req, async (r) => ((signal = r.signal), { stream: true, message: feed<number>().iterable }), lifetime);
    client.abort();
    expect(signal.aborted).toBe(true);
  });

  it("refuses the next message at once after the credential ended between reads", async () => {
    const { lifetime, watches } = manualLifetime();
    const inner = feed<number>();
    const res = await run(request(true, runtimeCaller), async () => ({ stream: true, message: inner.iterable }), lifetime);
    watches[0]!.end(unauth);
    const it = res.message[Symbol.asyncIterator]();
    await expect(it.next()).rejects.toBe(unauth);
    expect(watches[0]!.stopped).toBe(true);
    expect(inner.returned()).toBe(1);
  });

  it("ends normally when the handler finishes first, stopping the watch without return()", async () => {
    const { lifetime, watches } = manualLifetime();
    const inner = feed<number>();
    const res = await run(request(true, runtimeCaller), async () => ({ stream: true, message: inner.iterable }), lifetime);
    const it = res.message[Symbol.asyncIterator]();
    const p = it.next();
    inner.finish();
    expect(await p).toEqual({ done: true, value: undefined });
    expect(watches[0]!.stopped).toBe(true);
    expect(inner.returned()).toBe(0);
    // A late end changes nothing.
    watches[0]!.end(unauth);
  });

  it("ends Unauthenticated a handler that finished because its signal was aborted", async () => {
    const { lifetime, watches } = manualLifetime();
    const inner = feed<number>();
    let signal!: AbortSignal;
    const res = await run(request(true, runtimeCaller), async (r) => ((signal = r.signal), { stream: true, message: inner.iterable }), lifetime);
    const it = res.message[Symbol.asyncIterator]();
    const p = it.next();
    // The pending read is rejected by the abort; the handler's own end after it is ignored.
    watches[0]!.end(unauth);
    inner.finish();
    await expect(p).rejects.toBe(unauth);
    expect(signal.aborted).toBe(true);
  });

  it("does not fail a read left in flight when the client closed the stream", async () => {
    const { lifetime, watches } = manualLifetime();
    const inner = feed<number>();
    const res = await run(request(true, runtimeCaller), async () => ({ stream: true, message: inner.iterable }), lifetime);
    const it = res.message[Symbol.asyncIterator]();
    const inFlight = it.next();
    await it.return!();
    watches[0]!.end(unauth);
    inner.push(5);
    expect(await inFlight).toEqual({ done: false, value: 5 });
  });

  it("ends a handler stream without return() Unauthenticated too", async () => {
    const { lifetime, watches } = manualLifetime();
    const inner = feed<number>();
    const plain: AsyncIterable<number> = { [Symbol.asyncIterator]: () => ({ next: () => inner.iterable[Symbol.asyncIterator]().next() }) };
    const res = await run(request(true, runtimeCaller), async () => ({ stream: true, message: plain }), lifetime);
    const it = res.message[Symbol.asyncIterator]();
    const pending = it.next();
    watches[0]!.end(unauth);
    await expect(pending).rejects.toBe(unauth);
    expect(watches[0]!.stopped).toBe(true);
  });

  it("passes a handler failure on and stops watching", async () => {
    const { lifetime, watches } = manualLifetime();
    const inner = feed<number>();
    const boom = new Error("boom");
    inner.fail(boom);
    const res = await run(request(true, runtimeCaller), async () => ({ stream: true, message: inner.iterable }), lifetime);
    const it = res.message[Symbol.asyncIterator]();
    await expect(it.next()).rejects.toBe(boom);
    expect(watches[0]!.stopped).toBe(true);
    expect(inner.returned()).toBe(1);
  });

  it("return() and throw() from the client close the stream and stop watching", async () => {
    for (const how of ["return", "throw"] as const) {
      const { lifetime, watches } = manualLifetime();
      const inner = feed<number>();
      const res = await run(request(true, runtimeCaller), async () => ({ stream: true, message: inner.iterable }), lifetime);
      const it = res.message[Symbol.asyncIterator]();
      if (how === "return") expect(await it.return!(7)).toEqual({ done: true, value: 7 });
      else {
        const e = new Error("client");
        await expect(it.throw!(e)).rejects.toBe(e);
      }
      expect(watches[0]!.stopped).toBe(true);
      expect(inner.returned()).toBe(1);
      expect(await it.next()).toEqual({ done: true, value: undefined });
      // Closing twice returns the inner iterator once.
      await it.return!();
      expect(inner.returned()).toBe(1);
    }
  });
});
