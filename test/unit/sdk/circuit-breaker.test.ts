import { describe, expect, it } from "vitest";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { createCircuitBreaker, createCircuitBreakerInterceptor } from "../../../src/sdk/index.js";

function setup() {
  let now = 0;
  const clock = { now: () => now, advance: (ms: number) => void (now += ms) };
  const breaker = createCircuitBreaker({ failureThreshold: 3, successThreshold: 2, cooldownMs: 1_000, now: clock.now });
  let failWith: Code | undefined = Code.Unavailable;
  let reached = 0;
  const transport = createRouterTransport(
    ({ service }) =>
      service(KVService, {
        get(req) {
          reached++;
          if (failWith !== undefined) throw new ConnectError("provider says no", failWith);
          return { key: req.key };
        },
      }),
    { transport: { interceptors: [createCircuitBreakerInterceptor(breaker)] } },
  );
  const kv = createClient(KVService, transport);
  const call = () => kv.get({ key: "k" }).then(() => "ok", (e: unknown) => ConnectError.from(e).code);
  return {
    clock,
    breaker,
    call,
    reached: () => reached,
    failWith: (c: Code | undefined) => void (failWith = c),
  };
}

describe("circuit breaker", () => {
  it("opens after N consecutive failures and fails fast without reaching the provider", async () => {
    const t = setup();
    for (let i = 0; i < 3; i++) expect(await t.call()).toBe(Code.Unavailable);
    expect(t.breaker.state).toBe("open");
    expect(await t.call()).toBe(Code.Unavailable);
    expect(t.reached()).toBe(3);
  });

  it("half-opens after the cool-down and closes after M successes", async () => {
    const t = setup();
    for (let i = 0; i < 3; i++) await t.call();
    t.clock.advance(999);
    expect(t.breaker.state).toBe("open");
    t.clock.advance(1);
    expect(t.breaker.state).toBe("half-open");
    t.failWith(undefined);
    expect(await t.call()).toBe("ok");
    expect(t.breaker.state).toBe("half-open");
    expect(await t.call()).toBe("ok");
    expect(t.breaker.state).toBe("closed");
    expect(t.reached()).toBe(5);
  });

  it("a failure while half-open opens it again for a full cool-down", async () => {
    const t = setup();
    for (let i = 0; i < 3; i++) await t.call();
    t.clock.advance(1_000);
    expect(await t.call()).toBe(Code.Unavailable); // the trial call failed
    expect(t.breaker.state).toBe("open");
    t.clock.advance(500);
    expect(await t.call()).toBe(Code.Unavailable);
    expect(t.reached()).toBe(4);
  });

  it("lets one trial call through at a time while half-open", () => {
    const breaker = createCircuitBreaker({ failureThreshold: 1, cooldownMs: 0, now: () => 0 });
    breaker.acquire();
    breaker.onFailure(new ConnectError("x", Code.Unavailable));
    breaker.acquire(); // the trial
    expect(() => breaker.acquire()).toThrow(/half-open/);
  });

  it("errors that blame the request do not count, and a success resets the count", async () => {
    const t = setup();
    t.failWith(Code.NotFound);
    for (let i = 0; i < 5; i++) expect(await t.call()).toBe(Code.NotFound);
    expect(t.breaker.state).toBe("closed");
    t.failWith(Code.Unavailable);
    await t.call();
    await t.call();
    t.failWith(undefined);
    await t.call();
    t.failWith(Code.Unavailable);
    await t.call();
    await t.call();
    expect(t.breaker.state).toBe("closed");
  });
});

describe("circuit breaker defaults and edges", () => {
  const err = (code: Code) => new ConnectError("x", code);

  it("by default opens after 5 failures of any of Unavailable, DeadlineExceeded, Internal, Unknown, for 10 s, and closes after 2 trial successes", () => {
    let now = 0;
    const breaker = createCircuitBreaker({ now: () => now });
    for (const code of [Code.Unavailable, Code.DeadlineExceeded, Code.Internal, Code.Unknown]) {
      breaker.acquire();
      breaker.onFailure(err(code));
    }
    expect(breaker.state).toBe("closed");
    breaker.acquire();
    breaker.onFailure(err(Code.Unknown));
    expect(breaker.state).toBe("open");
    now = 9_999;
    expect(() => breaker.acquire()).toThrow(/circuit open after 5 failures; retry in 1 ms/);
    now = 10_000;
    breaker.acquire();
    breaker.onSuccess();
    expect(breaker.state).toBe("half-open");
    breaker.acquire();
    breaker.onSuccess();
    expect(breaker.state).toBe("closed");
  });

  it("refuses thresholds below 1 and a negative cool-down", () => {
    expect(() => createCircuitBreaker({ failureThreshold: 0 })).toThrow(/thresholds must be ≥ 1/);
    expect(() => createCircuitBreaker({ successThreshold: 0 })).toThrow(/thresholds must be ≥ 1/);
    expect(() => createCircuitBreaker({ cooldownMs: -1 })).toThrow(/cooldownMs ≥ 0/);
    expect(() => createCircuitBreaker({ failureThreshold: 1, successThreshold: 1, cooldownMs: 0 })).not.toThrow();
  });

  it("the open error is Unavailable and names the wait left", () => {
    let now = 0;
    const breaker = createCircuitBreaker({ failureThreshold: 2, cooldownMs: 1_000, now: () => now });
    breaker.onFailure(err(Code.Unavailable));
    breaker.onFailure(err(Code.Unavailable));
    now = 600;
    let thrown: unknown;
    try {
      breaker.acquire();
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ConnectError);
    expect((thrown as ConnectError).code).toBe(Code.Unavailable);
    expect((thrown as ConnectError).rawMessage).toBe("circuit open after 2 failures; retry in 400 ms");
  });

  it("a half-open trial refused for the request's fault frees the trial slot without opening", () => {
    const breaker = createCircuitBreaker({ failureThreshold: 1, cooldownMs: 0, now: () => 0 });
    breaker.onFailure(err(Code.Unavailable));
    breaker.acquire();
    breaker.onFailure(err(Code.NotFound));
    expect(breaker.state).toBe("half-open");
    expect(() => breaker.acquire()).not.toThrow();
  });

  it("after a failed trial and another cool-down, a new trial goes through", () => {
    let now = 0;
    const breaker = createCircuitBreaker({ failureThreshold: 1, successThreshold: 1, cooldownMs: 100, now: () => now });
    breaker.onFailure(err(Code.Unavailable));
    now = 100;
    breaker.acquire();
    breaker.onFailure(err(Code.Unavailable)); // the trial failed: open again
    expect(breaker.state).toBe("open");
    now = 199;
    expect(() => breaker.acquire()).toThrow(/circuit open/);
    now = 200;
    expect(() => breaker.acquire()).not.toThrow();
    breaker.onSuccess();
    expect(breaker.state).toBe("closed");
  });

  it("an interceptor made from options uses them", async () => {
    const transport = createRouterTransport(
      ({ service }) =>
        service(KVService, {
          get() {
            throw new ConnectError("down", Code.Unavailable);
          },
        }),
      { transport: { interceptors: [createCircuitBreakerInterceptor({ failureThreshold: 1, cooldownMs: 60_000 })] } },
    );
    const kv = createClient(KVService, transport);
    await expect(kv.get({ key: "k" })).rejects.toThrow(/down/);
    await expect(kv.get({ key: "k" })).rejects.toThrow(/circuit open after 1 failures/);
  });

  it("a call that started before the circuit opened and succeeds late does not close it", () => {
    const breaker = createCircuitBreaker({ failureThreshold: 1, successThreshold: 1, cooldownMs: 1_000, now: () => 0 });
    breaker.acquire(); // a slow call
    breaker.acquire();
    breaker.onFailure(err(Code.Unavailable)); // the other one fails: open
    breaker.onSuccess(); // the slow one answers
    expect(breaker.state).toBe("open");
  });

  it("a failed trial opens the circuit again even after an earlier trial succeeded", () => {
    let now = 0;
    const breaker = createCircuitBreaker({ failureThreshold: 3, successThreshold: 2, cooldownMs: 100, now: () => now });
    for (let i = 0; i < 3; i++) breaker.onFailure(err(Code.Unavailable));
    now = 100;
    breaker.acquire();
    breaker.onSuccess(); // one of the two trials needed
    breaker.acquire();
    breaker.onFailure(err(Code.Unavailable));
    expect(breaker.state).toBe("open");
    expect(() => breaker.acquire()).toThrow(/circuit open after 3 failures; retry in 100 ms/);
  });
});
