/**
 * maxPendingPerService counts the calls awaiting their decision: a call refused at the cap was never
 * counted, so its refusal must not take a count back (else each refusal would let one more call queue
 * past the cap while the pending ones still wait).
 */
import { describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { expectConnectError, startGatedFront, useProvider } from "./harness.js";

describe("maxPendingPerService refusals", () => {
  const env = useProvider();
  const clients = env.clients;

  it("the cap holds after refusals while the pending call still waits", async () => {
    const { front, release, waiting } = await startGatedFront(() => env.provider.url, { maxPendingPerService: 1 });
    try {
      const kv = clients.client("connect", front.url);
      const pending = kv.get({ key: "a" });
      await expect.poll(() => waiting()).toBe(1);
      for (let i = 0; i < 3; i++) expect((await expectConnectError(kv.get({ key: "b" }))).code).toBe(Code.Unavailable);
      expect(waiting()).toBe(1);
      release();
      expect((await pending).key).toBe("a");
      expect((await kv.get({ key: "c" })).key).toBe("c");
    } finally {
      clients.close();
      await front.close();
    }
  });
});
