/**
 * Issue 20: a provider killed -9 under calls it may have read is not retried: each such call ends in one
 * clean Unavailable, and the next calls go to the other provider (its provider is a child process, so
 * this suite is apart from safe-retry-pooled.test.ts, which mutation testing runs).
 */
import { resolve as resolvePath } from "node:path";
import type { ChildProcess } from "node:child_process";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { killGroup, spawnGroup, waitForLine } from "../../helpers/processes.js";
import { PROTOCOLS, clientFactory, startProvider } from "./harness.js";
import { ANSWER, KINDS, call, frontPreferring } from "./retry-helpers.js";

const DYING = resolvePath(import.meta.dirname, "../../fixtures/dying-provider/server.mjs");

describe("one safe retry on an already-connected provider session: a provider killed -9", () => {
  let healthy: Awaited<ReturnType<typeof startProvider>>;
  let child: ChildProcess | undefined;
  const clients = clientFactory();

  beforeAll(async () => {
    healthy = await startProvider();
  });
  afterEach(async () => {
    clients.close();
    if (child) await killGroup(child);
    child = undefined;
  });
  afterAll(async () => {
    await healthy.close();
  });

  it("a provider killed -9 under calls on a pooled session → each such call one clean Unavailable (no blind retry), the next calls succeed elsewhere", async () => {
    const proc = spawnGroup(process.execPath, [DYING]);
    child = proc;
    const port = (await waitForLine(proc, (l) => l.startsWith("listening "))).split(" ")[1];
    let started = 0;
    const { front, counts } = await frontPreferring(`http://127.0.0.1:${port}`, healthy.url, () => started++);
    try {
      // A warm call opens the router's pooled session to A.
      const warm = clients.client("connect", front.url);
      expect((await warm.get({ key: "a" })).key).toBe("k");
      // Stopped, A reads nothing: the calls below are forwarded to it over the live session...
      process.kill(proc.pid!, "SIGSTOP");
      const calls = PROTOCOLS.flatMap((protocol) => KINDS.map((kind) => ({ protocol, kind })));
      const startedBefore = started;
      const outcomes = calls.map(({ protocol, kind }) =>
        call(clients.client(protocol, front.url), kind).then(
          (value) => ({ protocol, kind, value }),
          (error: unknown) => ({ protocol, kind, error: String(error) }),
        ),
      );
      await expect.poll(() => started - startedBefore, { timeout: 20_000 }).toBe(calls.length);
      // ...and then it dies with their bytes unread (its kernel resets the connection).
      await killGroup(proc);
      const results = await Promise.all(outcomes);
      // A reset connection cannot prove the provider did not process a call: none is retried blindly.
      const wrong = results.filter((r) => !("error" in r) || !/\[unavailable\]/.test(r.error));
      expect(wrong).toEqual([]);
      // The provider is out of rotation: every kind in every protocol now succeeds through the other one.
      const after = await Promise.all(calls.map(({ protocol, kind }) => call(clients.client(protocol, front.url), kind)));
      expect(after).toEqual(calls.map(({ kind }) => ANSWER[kind]));
    } finally {
      clients.close();
      await front.close();
    }
  });
});
