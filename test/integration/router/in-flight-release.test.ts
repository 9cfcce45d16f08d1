/**
 * Review finding: a throw in the router's forward step after the call took its in-flight count (the
 * `onCallStart` hook, signing) must not keep that count: the call is refused, and the provider's cap
 * is whole again for the next call (else one such throw per slot refuses every later call).
 */
import { describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { expectConnectError, startFront, stubRouterOptions, useProvider } from "./harness.js";

describe("in-flight count after a refusal in the forward step", () => {
  const env = useProvider();
  const clients = env.clients;

  it("a throwing onCallStart refuses that call and gives its count back (maxInFlightPerProvider: 1)", async () => {
    let throws = 2;
    const front = await startFront(
      stubRouterOptions(() => env.provider.url, {
        maxInFlightPerProvider: 1,
        onCallStart: () => {
          if (throws-- > 0) throw new Error("metrics hook broke");
        },
      }),
    );
    try {
      const kv = clients.client("connect", front.url);
      for (let i = 0; i < 2; i++) expect((await expectConnectError(kv.get({ key: "a" }))).code).toBe(Code.Internal);
      // The hook works again: the cap of one is free, so the call passes (not ResourceExhausted).
      expect((await kv.get({ key: "b" })).key).toBe("b");
    } finally {
      clients.close();
      await front.close();
    }
  });
});
