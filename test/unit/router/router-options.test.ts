import { describe, expect, it } from "vitest";
import { createRouter, type RouterOptions } from "../../../src/router/index.js";

/* createRouter refuses options it cannot honour (each limit named in the message) and takes the safe defaults. */

const base: RouterOptions = {
  authenticate: () => ({ kind: "runtime", subject: "runtime:a", method: "token", roles: [] }),
  authorize: () => undefined,
  resolve: () => {
    throw new Error("unused");
  },
};

describe("createRouter options", () => {
  it.each(["authenticate", "authorize", "resolve"] as const)("without %s: refused", (name) => {
    expect(() => createRouter({ ...base, [name]: undefined } as unknown as RouterOptions)).toThrow("router: authenticate, authorize and resolve are required");
  });

  it.each([0, -1, 1.5, Infinity, Number.NaN])("maxMessageBytes %s: refused", (v) => {
    expect(() => createRouter({ ...base, maxMessageBytes: v })).toThrow("router: maxMessageBytes must be a positive integer");
  });

  it.each([0, -1, 1.5, Number.NaN, -Infinity])("maxResponseMessageBytes %s: refused", (v) => {
    expect(() => createRouter({ ...base, maxResponseMessageBytes: v })).toThrow("router: maxResponseMessageBytes must be a positive integer or Infinity");
  });

  it.each(["maxInFlightPerProvider", "maxPendingPerService"] as const)("%s 0, -1, 1.5: refused, naming the option", (name) => {
    for (const v of [0, -1, 1.5]) expect(() => createRouter({ ...base, [name]: v })).toThrow(`router: ${name} must be a positive integer`);
  });

  it("the smallest limits, Infinity for responses, and the defaults are taken", async () => {
    for (const o of [{}, { maxMessageBytes: 1, maxResponseMessageBytes: 1, maxInFlightPerProvider: 1, maxPendingPerService: 1 }, { maxResponseMessageBytes: Infinity }]) {
      await createRouter({ ...base, ...o }).close();
    }
  });
});
