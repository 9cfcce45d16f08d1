import { describe, expect, it } from "vitest";
import { createRbac } from "../../../src/policy/rbac.js";
import { createSwappableRbac } from "../../../src/policy/swappable-rbac.js";
import { createRouterRateLimiter } from "../../../src/ratelimit/router-rate-limiter.js";
import { createSwappableRateLimiter } from "../../../src/ratelimit/swappable.js";

describe("holders a config reload swaps", () => {
  it("RBAC: the same object answers with the new rules after swap", () => {
    const who = { subject: "runtime:rt_1", pluginName: "billing" };
    const rules = (pluginName: string) => createRbac({ roles: { ops: { allow: ["admin"] } }, bindings: [{ pluginName, role: "ops" }] });
    const rbac = createSwappableRbac(rules("billing"));
    expect(rbac.check(who, "admin")).toBe(true);
    rbac.swap(rules("someone-else"));
    expect(rbac.check(who, "admin")).toBe(false);
    expect(() => rbac.require(who, "admin")).toThrow(/admin/);
  });

  it("rate limits: new budgets apply at once; none means unlimited", async () => {
    const limiter = createSwappableRateLimiter(undefined);
    for (let i = 0; i < 5; i++) expect((await limiter.consume("c", "s")).ok).toBe(true);
    limiter.swap(createRouterRateLimiter({ perCaller: { points: 1, durationSec: 60 } }));
    expect((await limiter.consume("c", "s")).ok).toBe(true);
    expect((await limiter.consume("c", "s")).ok).toBe(false);
    limiter.swap(undefined);
    expect((await limiter.consume("c", "s")).ok).toBe(true);
  });
});
