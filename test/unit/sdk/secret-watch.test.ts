/**
 * The SDK's secret watch (createSecretWatch) fed by a scripted WatchSecrets stream: which messages
 * change what the plugin holds, what listeners hear, how long a replaced version stays readable
 * (the clock is injected), and when the stream is watched again.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it, vi } from "vitest";
import { WatchSecretsResponseSchema, type WatchSecretsResponse } from "../../../gen/plugboard/v1/secrets_pb.js";
import { createSecretWatch, type SecretChange, type SecretWatch } from "../../../src/sdk/secret-watch.js";

const bytes = (s: string) => new TextEncoder().encode(s);
const secret = (name: string, version: string, value: string, stale = false) => ({ name, version, value: bytes(value), stale });
const message = (secrets: ReturnType<typeof secret>[], removed: string[] = []): WatchSecretsResponse =>
  create(WatchSecretsResponseSchema, { secrets, removed });

const watches: SecretWatch[] = [];
afterEach(() => {
  for (const w of watches.splice(0)) w.stop();
});

/**
 * A watch whose streams are scripted: each call of `watch` takes the next script; a script yields its
 * messages, then ends, throws its error, or (when `hold`) waits until the watch is stopped.
 */
function scripted(scripts: { messages: WatchSecretsResponse[]; error?: ConnectError; hold?: boolean }[], graceMs = 1_000) {
  let clock = 1_000_000;
  const calls: AbortSignal[] = [];
  const errors: ConnectError[] = [];
  let delivered = 0;
  const w = createSecretWatch({
    graceMs,
    retryMs: 1,
    now: () => clock,
    onError: (e) => errors.push(e),
    async *watch(signal) {
      calls.push(signal);
      const script = scripts[calls.length - 1];
      if (!script) {
        await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
        return;
      }
      for (const m of script.messages) {
        yield m;
        delivered++;
      }
      if (script.error) throw script.error;
      if (script.hold) await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
    },
  });
  watches.push(w);
  return {
    w,
    calls,
    errors,
    delivered: () => delivered,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

describe("secret watch: what the plugin holds", () => {
  it("the first version, a rotation (the replaced one readable for the grace period), and a removal", async () => {
    const s = scripted([{ messages: [message([secret("db", "1", "one"), secret("api", "7", "key")])], hold: true }]);
    const changes: SecretChange[] = [];
    s.w.onChange("db", (c) => changes.push(c));
    s.w.start();
    await expect.poll(s.delivered, { timeout: 10_000 }).toBe(1);
    expect(s.w.current("db")).toEqual(secret("db", "1", "one"));
    expect(s.w.current("api")?.version).toBe("7");
    expect(s.w.previous("db")).toBeUndefined();
    expect(changes).toEqual([{ current: secret("db", "1", "one") }]);
  });

  it("tells listeners of each change once, keeps the replaced version for graceMs, and forgets removed secrets", async () => {
    const s = scripted(
      [
        {
          messages: [
            message([secret("db", "1", "one")]),
            message([secret("db", "1", "one")]), // the same again: nothing new
            message([secret("db", "2", "two")]),
          ],
        },
        // A reconnect's first message repeats what is held: nothing new either.
        { messages: [message([secret("db", "2", "two")])], hold: true },
      ],
      1_000,
    );
    const changes: SecretChange[] = [];
    const other: SecretChange[] = [];
    s.w.onChange("db", (c) => changes.push(c));
    s.w.onChange("api", (c) => other.push(c));
    s.w.start();
    await expect.poll(s.delivered, { timeout: 10_000 }).toBe(4);
    expect(changes).toEqual([{ current: secret("db", "1", "one") }, { current: secret("db", "2", "two"), previous: secret("db", "1", "one") }]);
    expect(other).toEqual([]);
    expect(s.calls).toHaveLength(2);
    expect(s.w.previous("db")).toEqual(secret("db", "1", "one"));
    s.advance(999);
    expect(s.w.previous("db")?.version).toBe("1");
    s.advance(1);
    expect(s.w.previous("db")).toBeUndefined();
    expect(s.w.current("db")?.version).toBe("2");
  });

  it("a new value under the same version is a rotation; a stale flag alone is a change but replaces nothing", async () => {
    const s = scripted([
      {
        messages: [
          message([secret("db", "1", "one")]),
          message([secret("db", "1", "uno")]),
          message([secret("db", "1", "uno", true)]),
          message([secret("db", "1", "uno", false)]),
        ],
        hold: true,
      },
    ]);
    const changes: SecretChange[] = [];
    s.w.onChange("db", (c) => changes.push(c));
    s.w.start();
    await expect.poll(s.delivered, { timeout: 10_000 }).toBe(4);
    expect(changes).toEqual([
      { current: secret("db", "1", "one") },
      { current: secret("db", "1", "uno"), previous: secret("db", "1", "one") },
      { current: secret("db", "1", "uno", true) },
      { current: secret("db", "1", "uno", false) },
    ]);
    // The stale flips kept the version "uno" replaced, and its grace period.
    expect(s.w.previous("db")).toEqual(secret("db", "1", "one"));
    s.advance(1_000);
    expect(s.w.previous("db")).toBeUndefined();
  });

  it("a removed secret is no longer held; an unsubscribed listener hears nothing more", async () => {
    const s = scripted([
      { messages: [message([secret("db", "1", "one")]), message([], ["db"]), message([secret("db", "2", "two")])], hold: true },
    ]);
    const changes: SecretChange[] = [];
    let unsubscribe: () => void = () => undefined;
    unsubscribe = s.w.onChange("db", (c) => {
      changes.push(c);
      unsubscribe();
    });
    const all: string[] = [];
    s.w.onChange("db", (c) => all.push(c.current.version));
    s.w.start();
    await expect.poll(s.delivered, { timeout: 10_000 }).toBe(3);
    expect(changes).toHaveLength(1);
    // After the removal, version 2 is a first version again: no previous.
    expect(all).toEqual(["1", "2"]);
    expect(s.w.previous("db")).toBeUndefined();
  });
});

describe("secret watch: the stream", () => {
  it("watches again after the stream ends or fails, reporting the failure", async () => {
    const s = scripted([
      { messages: [message([secret("db", "1", "one")])] },
      { messages: [], error: new ConnectError("host restarting", Code.Unavailable) },
      { messages: [message([secret("db", "2", "two")])], hold: true },
    ]);
    s.w.start();
    await expect.poll(() => s.w.current("db")?.version, { timeout: 10_000 }).toBe("2");
    expect(s.calls).toHaveLength(3);
    expect(s.errors.map((e) => e.code)).toEqual([Code.Unavailable]);
  });

  it("stops for good on Unimplemented (a host without secrets)", async () => {
    const s = scripted([{ messages: [], error: new ConnectError("no secrets here", Code.Unimplemented) }]);
    s.w.start();
    await expect.poll(() => s.errors.length, { timeout: 10_000 }).toBe(1);
    // Were it to watch again (after 1 ms), the second, holding stream would be asked for.
    await new Promise((r) => setTimeout(r, 50));
    expect(s.calls).toHaveLength(1);
  });

  it("start twice watches once; stop aborts the stream, without reporting an error", async () => {
    const s = scripted([{ messages: [message([secret("db", "1", "one")])], hold: true }]);
    s.w.start();
    s.w.start();
    await expect.poll(s.delivered, { timeout: 10_000 }).toBe(1);
    expect(s.calls).toHaveLength(1);
    s.w.stop();
    expect(s.calls[0]!.aborted).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(s.calls).toHaveLength(1);
    expect(s.errors).toEqual([]);
  });

  it("after stop, a stream that ends in an abort error is not reported", async () => {
    const errors: ConnectError[] = [];
    let watching!: () => void;
    const started = new Promise<void>((r) => (watching = r));
    let ended!: () => void;
    const streamEnded = new Promise<void>((r) => (ended = r));
    const w = createSecretWatch({
      graceMs: 1_000,
      retryMs: 1,
      onError: (e) => errors.push(e),
      async *watch(signal) {
        watching();
        await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
        setImmediate(ended);
        throw new ConnectError("the call was aborted", Code.Canceled);
      },
    });
    w.start();
    await started;
    w.stop();
    await streamEnded;
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    expect(errors).toEqual([]);
  });

  it("without onError, a failed stream is still watched again", async () => {
    let calls = 0;
    const w = createSecretWatch({
      graceMs: 1_000,
      retryMs: 1,
      async *watch(signal) {
        calls++;
        if (calls === 1) throw new ConnectError("host restarting", Code.Unavailable);
        yield message([secret("db", "1", "one")]);
        await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
      },
    });
    watches.push(w);
    w.start();
    await expect.poll(() => w.current("db")?.version, { timeout: 10_000 }).toBe("1");
    expect(calls).toBe(2);
  });

  describe("waits before watching again", () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it("retryMs after a failure, doubling while it keeps failing, and retryMs again after a stream that delivered", async () => {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const errors: ConnectError[] = [];
      let calls = 0;
      const w = createSecretWatch({
        graceMs: 1_000,
        retryMs: 10_000,
        onError: (e) => errors.push(e),
        async *watch(signal) {
          calls++;
          if (calls === 2) {
            yield message([secret("db", "1", "one")]);
            return;
          }
          if (calls >= 5) {
            await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
            return;
          }
          throw new ConnectError("host restarting", Code.Unavailable);
        },
      });
      watches.push(w);
      w.start();
      // 1: fails at once -> 10 s; 2: delivers (back to 10 s), ends -> 10 s; 3: fails -> 20 s; 4: fails -> 30 s (the cap); 5: holds.
      const expectCallsAfter = async (ms: number, before: number) => {
        await vi.advanceTimersByTimeAsync(ms - 1);
        expect(calls).toBe(before);
        await vi.advanceTimersByTimeAsync(1);
        expect(calls).toBe(before + 1);
      };
      await vi.advanceTimersByTimeAsync(0);
      expect(calls).toBe(1);
      await expectCallsAfter(10_000, 1);
      await expectCallsAfter(10_000, 2);
      await expectCallsAfter(20_000, 3);
      await expectCallsAfter(30_000, 4);
      expect(errors).toHaveLength(3);
    });

    it("1 s by default", async () => {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      let calls = 0;
      const w = createSecretWatch({
        graceMs: 1_000,
        async *watch(signal) {
          calls++;
          if (calls === 1) throw new ConnectError("host restarting", Code.Unavailable);
          if (calls === 2) {
            yield message([secret("db", "1", "one")]);
            return;
          }
          await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
        },
      });
      watches.push(w);
      w.start();
      await vi.advanceTimersByTimeAsync(999);
      expect(calls).toBe(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(calls).toBe(2);
      await vi.advanceTimersByTimeAsync(999);
      expect(calls).toBe(2);
      await vi.advanceTimersByTimeAsync(1);
      expect(calls).toBe(3);
    });
  });
});

describe("secret watch: names it does not hold", () => {
  it("current and previous of a secret never sent are undefined", () => {
    const s = scripted([]);
    expect(s.w.current("nope")).toBeUndefined();
    expect(s.w.previous("nope")).toBeUndefined();
  });

  it("a new version with the same value is a rotation: listeners hear it with the version it replaced", async () => {
    const s = scripted([{ messages: [message([secret("db", "1", "same")]), message([secret("db", "2", "same")])], hold: true }]);
    const changes: SecretChange[] = [];
    s.w.onChange("db", (c) => changes.push(c));
    s.w.start();
    await expect.poll(s.delivered, { timeout: 10_000 }).toBe(2);
    expect(changes.map((c) => [c.current.version, c.previous?.version])).toEqual([
      ["1", undefined],
      ["2", "1"],
    ]);
    expect(s.w.previous("db")?.version).toBe("1");
  });
});
