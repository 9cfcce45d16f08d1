import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { rateLimitedError } from "../../../src/router/retry-info.js";
import { backoffMs, createRetryInterceptor, resolveRetryOptions, type RetryOptions } from "../../../src/sdk/index.js";
import { abortableSleep } from "../../../src/sdk/retry.js";

/** A KV client over an in-memory transport whose Get/List fail with `failures` in turn, then succeed. */
function flakyKv(failures: ConnectError[], retry: RetryOptions) {
  const attempts = { get: 0, list: 0, putMany: 0 };
  const transport = createRouterTransport(
    ({ service }) =>
      service(KVService, {
        get(req) {
          const err = failures[attempts.get++];
          if (err) throw err;
          return { key: req.key, found: true };
        },
        async *list() {
          const err = failures[attempts.list++];
          if (err) throw err;
          yield { key: "a" };
          yield { key: "b" };
        },
        async putMany(reqs) {
          attempts.putMany++;
          for await (const _ of reqs) void _;
          throw new ConnectError("down", Code.Unavailable);
        },
      }),
    { transport: { interceptors: [createRetryInterceptor(retry)] } },
  );
  return { kv: createClient(KVService, transport), attempts };
}

const fakeTime = () => {
  const slept: number[] = [];
  return { slept, sleep: async (ms: number) => void slept.push(ms), random: () => 0.5 };
};

describe("retry interceptor", () => {
  it("full jitter stays within [0, min(max, initial · multiplier^n))", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (n, r) => {
        const o = resolveRetryOptions({ initialDelayMs: 100, maxDelayMs: 10_000, random: () => r });
        const d = backoffMs(n, o);
        return d >= 0 && d <= Math.min(10_000, 100 * 2 ** n);
      }),
    );
  });

  it("retries Unavailable with growing backoff, then succeeds", async () => {
    const t = fakeTime();
    const { kv, attempts } = flakyKv([new ConnectError("a", Code.Unavailable), new ConnectError("b", Code.Unavailable)], { ...t, maxAttempts: 3 });
    expect((await kv.get({ key: "k" })).found).toBe(true);
    expect(attempts.get).toBe(3);
    expect(t.slept).toEqual([50, 100]); // 0.5 × 100, 0.5 × 200
  });

  it("gives up after maxAttempts with the last error", async () => {
    const t = fakeTime();
    const down = () => new ConnectError("down", Code.Unavailable);
    const { kv, attempts } = flakyKv([down(), down(), down(), down()], { ...t, maxAttempts: 3 });
    await expect(kv.get({ key: "k" })).rejects.toMatchObject({ code: Code.Unavailable });
    expect(attempts.get).toBe(3);
  });

  it("does not retry codes outside the retryable set", async () => {
    const t = fakeTime();
    const { kv, attempts } = flakyKv([new ConnectError("no", Code.PermissionDenied)], t);
    await expect(kv.get({ key: "k" })).rejects.toMatchObject({ code: Code.PermissionDenied });
    expect(attempts.get).toBe(1);
    expect(t.slept).toEqual([]);
  });

  it("waits at least the server's RetryInfo delay; gives up when it exceeds maxDelayMs", async () => {
    const t = fakeTime();
    const { kv } = flakyKv([rateLimitedError(700)], t);
    await kv.get({ key: "k" });
    expect(t.slept).toEqual([700]);

    const t2 = fakeTime();
    const { kv: kv2, attempts } = flakyKv([rateLimitedError(20_000)], { ...t2, maxDelayMs: 5_000 });
    await expect(kv2.get({ key: "k" })).rejects.toMatchObject({ code: Code.ResourceExhausted });
    expect(attempts.get).toBe(1);
  });

  it("retries a server stream that fails before its first message (request replayed)", async () => {
    const t = fakeTime();
    const { kv, attempts } = flakyKv([new ConnectError("a", Code.Unavailable)], t);
    const keys: string[] = [];
    for await (const e of kv.list({ prefix: "" })) keys.push(e.key);
    expect(keys).toEqual(["a", "b"]);
    expect(attempts.list).toBe(2);
  });

  it("never replays a client stream", async () => {
    const t = fakeTime();
    const { kv, attempts } = flakyKv([], t);
    await expect(kv.putMany((async function* () { yield { key: "x" }; })())).rejects.toMatchObject({ code: Code.Unavailable });
    expect(attempts.putMany).toBe(1);
  });

  it("stops when the call is aborted while waiting", async () => {
    const controller = new AbortController();
    const { kv, attempts } = flakyKv([new ConnectError("a", Code.Unavailable), new ConnectError("b", Code.Unavailable)], {
      initialDelayMs: 1_000,
      random: () => 0.99,
    });
    setTimeout(() => controller.abort(), 30);
    await expect(kv.get({ key: "k" }, { signal: controller.signal })).rejects.toMatchObject({ code: Code.Canceled });
    expect(attempts.get).toBe(1);
  });

  it("validates its options", () => {
    expect(() => resolveRetryOptions({ maxAttempts: 0 })).toThrow(/maxAttempts/);
    expect(() => resolveRetryOptions({ initialDelayMs: 10, maxDelayMs: 5 })).toThrow();
  });
});

describe("retry interceptor, defaults and edges", () => {
  it("by default gives up on a server asking for more than 10 s, and honours 10 s exactly", async () => {
    const t = fakeTime();
    const { kv, attempts } = flakyKv([rateLimitedError(10_001)], t);
    await expect(kv.get({ key: "k" })).rejects.toMatchObject({ code: Code.ResourceExhausted });
    expect(attempts.get).toBe(1);

    const t2 = fakeTime();
    const { kv: kv2 } = flakyKv([rateLimitedError(10_000)], t2);
    await kv2.get({ key: "k" });
    expect(t2.slept).toEqual([10_000]);
  });

  it("by default makes 3 attempts in all", async () => {
    const t = fakeTime();
    const down = () => new ConnectError("down", Code.Unavailable);
    const { kv, attempts } = flakyKv([down(), down(), down(), down()], t);
    await expect(kv.get({ key: "k" })).rejects.toMatchObject({ code: Code.Unavailable });
    expect(attempts.get).toBe(3);
  });

  it("a jitter longer than the server's delay is kept (the server's delay is a floor)", async () => {
    const slept: number[] = [];
    const { kv } = flakyKv([rateLimitedError(300)], { sleep: async (ms) => void slept.push(ms), random: () => 0.9, initialDelayMs: 1_000 });
    await kv.get({ key: "k" });
    expect(slept).toEqual([900]);
  });

  it("a delay asked with Unavailable is not the floor (only ResourceExhausted carries one)", async () => {
    const t = fakeTime();
    const { kv } = flakyKv([rateLimitedError(5_000, "busy", Code.Unavailable)], t);
    await kv.get({ key: "k" });
    expect(t.slept).toEqual([50]);
  });

  it("with maxAttempts 1, makes one attempt and never sleeps", async () => {
    const t = fakeTime();
    const { kv, attempts } = flakyKv([new ConnectError("a", Code.Unavailable)], { ...t, maxAttempts: 1 });
    await expect(kv.get({ key: "k" })).rejects.toMatchObject({ code: Code.Unavailable });
    expect(attempts.get).toBe(1);
    expect(t.slept).toEqual([]);
  });

  it("growth follows the multiplier and the cap follows maxDelayMs", async () => {
    const t = fakeTime();
    const down = () => new ConnectError("down", Code.Unavailable);
    const { kv } = flakyKv([down(), down(), down()], { ...t, maxAttempts: 4, initialDelayMs: 100, multiplier: 3, maxDelayMs: 500 });
    await kv.get({ key: "k" });
    expect(t.slept).toEqual([50, 150, 250]); // 0.5 × 100, 0.5 × 300, 0.5 × min(500, 900)
  });

  it("validates every option", () => {
    expect(() => resolveRetryOptions({ maxAttempts: 1.5 })).toThrow(/maxAttempts must be an integer ≥ 1/);
    expect(() => resolveRetryOptions({ maxAttempts: 1 })).not.toThrow();
    expect(() => resolveRetryOptions({ initialDelayMs: -1 })).toThrow(/need 0 ≤ initialDelayMs ≤ maxDelayMs/);
    expect(() => resolveRetryOptions({ initialDelayMs: 0, maxDelayMs: 0 })).not.toThrow();
    expect(() => resolveRetryOptions({ initialDelayMs: Number.NaN })).toThrow(/initialDelayMs/);
    expect(() => resolveRetryOptions({ multiplier: 0.5 })).toThrow(/multiplier must be ≥ 1/);
    expect(() => resolveRetryOptions({ multiplier: 1 })).not.toThrow();
  });

  it("abortableSleep: rejects Canceled at once on an aborted signal, with its reason", async () => {
    const c = new AbortController();
    c.abort("caller gave up");
    const err = await abortableSleep(60_000, c.signal).then(() => undefined, (e: unknown) => e as ConnectError);
    expect(err).toBeInstanceOf(ConnectError);
    expect(err?.code).toBe(Code.Canceled);
    expect(err?.rawMessage).toContain("caller gave up");
  });

  it("abortableSleep: resolves after the wait, and a later abort changes nothing", async () => {
    const c = new AbortController();
    await abortableSleep(1, c.signal);
    c.abort();
    const c2 = new AbortController();
    const sleeping = abortableSleep(60_000, c2.signal);
    c2.abort(new Error("stop"));
    await expect(sleeping).rejects.toMatchObject({ code: Code.Canceled, rawMessage: "stop" });
  });

  it("abortableSleep leaves no listener on the call's signal, whether it slept or was aborted", async () => {
    const slept = new AbortController();
    await abortableSleep(1, slept.signal);
    expect(getEventListeners(slept.signal, "abort")).toHaveLength(0);
    const aborted = new AbortController();
    const sleeping = abortableSleep(60_000, aborted.signal);
    expect(getEventListeners(aborted.signal, "abort")).toHaveLength(1);
    aborted.abort();
    await expect(sleeping).rejects.toMatchObject({ code: Code.Canceled });
    expect(getEventListeners(aborted.signal, "abort")).toHaveLength(0);
  });
});
