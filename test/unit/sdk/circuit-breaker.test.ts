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
