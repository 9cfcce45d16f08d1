import { afterEach, describe, expect, it } from "vitest";
import { bearer } from "../../helpers/transports.js";
import { codeOf, startAttackHost, type AttackHost } from "../../security/harness.js";

let h: AttackHost | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe("a burst of calls to a provider not yet connected", () => {
  it("all wait for the one new session without piling listeners on it", async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    try {
      h = await startAttackHost();
      // The first routed calls: the router opens its session to the provider while 40 calls wait on it.
      const kv = h.kv(h.transports.make("grpc"));
      const codes = await Promise.all(Array.from({ length: 40 }, () => codeOf(kv.get({ key: "k" }, bearer(h!.consumer.token)))));
      expect(codes.every((c) => c === "ok")).toBe(true);
      // Warnings are emitted on the next tick.
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning")).toEqual([]);
    } finally {
      process.off("warning", onWarning);
    }
  });
});
