/**
 * Issue 20: caps that fail fast. Past `maxInFlightPerProvider` a call is refused with
 * ResourceExhausted, past `maxPendingPerService` with Unavailable — both with retry info —
 * instead of queueing without bound; the counts come back as calls end.
 */
import { describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { retryDelayMs } from "../../../src/router/index.js";
import { expectConnectError, PROTOCOLS, startFront, startGatedFront, stubRouterOptions, useProvider } from "./harness.js";

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("caps that fail fast", () => {
  const env = useProvider();
  const clients = env.clients;

  describe.each(PROTOCOLS)("%s", (protocol) => {
    it("maxInFlightPerProvider: the call past the cap is ResourceExhausted with retry info; the cap frees as calls end", async () => {
      const front = await startFront(stubRouterOptions(() => env.provider.url, { maxInFlightPerProvider: 2 }));
      try {
        const kv = clients.client(protocol, front.url);
        const ac = new AbortController();
        const startedBefore = env.provider.log.started.length;
        const slow = [1, 2].map(() => kv.get({ key: "slow" }, { signal: ac.signal }).catch(() => undefined));
        await until(() => env.provider.log.started.length >= startedBefore + 2);
        const err = await expectConnectError(kv.get({ key: "a" }));
        expect(err.code).toBe(Code.ResourceExhausted);
        expect(err.rawMessage).toContain("maxInFlightPerProvider");
        expect(retryDelayMs(err)).toBeGreaterThan(0);
        ac.abort();
        await Promise.all(slow);
        // The router took its counts back: calls pass again.
        let ok = false;
        for (let i = 0; i < 50 && !ok; i++) {
          ok = await kv.get({ key: "a" }).then(() => true, () => false);
          if (!ok) await new Promise((r) => setTimeout(r, 20));
        }
        expect(ok).toBe(true);
      } finally {
        clients.close();
        await front.close();
      }
    });

    it("maxPendingPerService: the call past the cap is Unavailable with retry info; the pending ones go on", async () => {
      const { front, release, waiting } = await startGatedFront(() => env.provider.url, { maxPendingPerService: 2 });
      try {
        const kv = clients.client(protocol, front.url);
        const pendingCalls = [kv.get({ key: "a" }), kv.get({ key: "b" })];
        await until(() => waiting() === 2);
        const err = await expectConnectError(kv.get({ key: "c" }));
        expect(err.code).toBe(Code.Unavailable);
        expect(err.rawMessage).toContain("maxPendingPerService");
        expect(retryDelayMs(err)).toBeGreaterThan(0);
        release();
        expect((await Promise.all(pendingCalls)).map((r) => r.key)).toEqual(["a", "b"]);
        expect((await kv.get({ key: "d" })).key).toBe("d");
      } finally {
        clients.close();
        await front.close();
      }
    });
  });
});
