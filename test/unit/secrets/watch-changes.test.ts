import { getEventListeners } from "node:events";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { SecretNeed, SecretValue } from "../../../src/secrets/types.js";
import { DEFAULT_SECRET_WATCH, resolveSecretWatch, secretChanges, type SecretChangeSource } from "../../../src/secrets/watch.js";

const enc = (s: string) => new TextEncoder().encode(s);
const need = (name: string): SecretNeed => ({ name, version: "", optional: false });

/** A backend the test edits between rounds: name → [version, value] or an Error to throw. */
function source(
  state: Map<string, [string, string] | Error>,
  allowed: { names: string[] },
  controller: AbortController,
  extra: Partial<SecretChangeSource> = {},
) {
  const calls = { allowed: 0, read: 0 };
  const read = async (n: SecretNeed): Promise<SecretValue> => {
    calls.read++;
    const entry = state.get(n.name);
    if (entry === undefined || entry instanceof Error) throw entry ?? new Error("absent");
    return { name: n.name, version: entry[0], value: enc(entry[1]) };
  };
  const src: SecretChangeSource = {
    readAll: async () => Promise.all(allowed.names.map((n) => read(need(n)))),
    allowed: () => {
      calls.allowed++;
      return allowed.names.map(need);
    },
    read,
    intervalMs: 10,
    jitter: 0,
    signal: controller.signal,
    ...extra,
  };
  return { src, calls };
}

const view = (change: { secrets: (SecretValue & { stale: boolean })[]; removed: string[]; initial: boolean }) => ({
  secrets: change.secrets.map((s) => `${s.name}@${s.version}=${new TextDecoder().decode(s.value)}${s.stale ? " (stale)" : ""}`),
  removed: change.removed,
  initial: change.initial,
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe("resolveSecretWatch", () => {
  it("fills in the defaults and keeps valid values", () => {
    expect(DEFAULT_SECRET_WATCH).toEqual({ refreshIntervalMs: 30_000, jitter: 0.1 });
    expect(resolveSecretWatch()).toEqual({ refreshIntervalMs: 30_000, jitter: 0.1 });
    expect(resolveSecretWatch({ refreshIntervalMs: 10, jitter: 0 })).toEqual({ refreshIntervalMs: 10, jitter: 0 });
    expect(resolveSecretWatch({ jitter: 0.999 })).toEqual({ refreshIntervalMs: 30_000, jitter: 0.999 });
  });

  it("refuses an interval below 10 ms or not a number, and a jitter outside [0, 1), naming the option", () => {
    for (const refreshIntervalMs of [9.99, 0, -5, Number.NaN, "20" as never]) {
      expect(() => resolveSecretWatch({ refreshIntervalMs }), String(refreshIntervalMs)).toThrow(
        new TypeError("secrets.watch.refreshIntervalMs must be a number of milliseconds, at least 10"),
      );
    }
    for (const jitter of [1, 1.5, -0.01, Number.NaN, "0.5" as never]) {
      expect(() => resolveSecretWatch({ jitter }), String(jitter)).toThrow(new TypeError("secrets.watch.jitter must be a fraction from 0 to below 1"));
    }
  });
});

describe("secretChanges", () => {
  it("sends everything first, then only new versions, removals, outages (once, stale) and recoveries", async () => {
    const state = new Map<string, [string, string] | Error>([
      ["a", ["1", "A1"]],
      ["b", ["", "B"]],
    ]);
    const allowed = { names: ["a", "b"] };
    const controller = new AbortController();
    const { src } = source(state, allowed, controller);
    const changes = secretChanges(src);
    const next = async () => view((await changes.next()).value!);

    expect(await next()).toEqual({ secrets: ["a@1=A1", "b@=B"], removed: [], initial: true });

    state.set("a", ["2", "A2"]);
    expect(await next()).toEqual({ secrets: ["a@2=A2"], removed: [], initial: false });

    // Unversioned: a new value is a change; the same value read again is not.
    state.set("b", ["", "B2"]);
    expect(await next()).toEqual({ secrets: ["b@=B2"], removed: [], initial: false });

    // An outage: told once, with the last good value, marked stale.
    state.set("a", new Error("down"));
    expect(await next()).toEqual({ secrets: ["a@2=A2 (stale)"], removed: [], initial: false });
    state.set("b", ["", "B3"]);
    expect(await next()).toEqual({ secrets: ["b@=B3"], removed: [], initial: false });

    // Recovery with the same version is announced (no longer stale).
    state.set("a", ["2", "A2"]);
    expect(await next()).toEqual({ secrets: ["a@2=A2"], removed: [], initial: false });

    // No longer allowed: removed once; allowed again: sent again in full.
    allowed.names = ["b"];
    state.set("b", ["", "B4"]);
    expect(await next()).toEqual({ secrets: ["b@=B4"], removed: ["a"], initial: false });
    allowed.names = ["a", "b"];
    expect(await next()).toEqual({ secrets: ["a@2=A2"], removed: [], initial: false });

    // A newly allowed name that cannot be read is not sent at all until it can be.
    allowed.names = ["a", "b", "c"];
    state.set("c", new Error("down"));
    state.set("b", ["", "B5"]);
    expect(await next()).toEqual({ secrets: ["b@=B5"], removed: [], initial: false });
    state.set("c", ["7", "C"]);
    expect(await next()).toEqual({ secrets: ["c@7=C"], removed: [], initial: false });

    controller.abort();
    expect((await changes.next()).done).toBe(true);
  });

  it("a round without changes yields nothing; a revision is the version, or a digest of the value without one", async () => {
    const state = new Map<string, [string, string] | Error>([
      ["v", ["3", "same"]],
      ["h", ["", "same"]],
    ]);
    const controller = new AbortController();
    const { src, calls } = source(state, { names: ["v", "h"] }, controller);
    const changes = secretChanges(src);
    await changes.next();
    const pending = changes.next();
    // Several quiet rounds pass without a yield; then a change to the value of a versioned secret alone is no change,
    // and a new version with the same value is one.
    while (calls.allowed < 3) await new Promise((resolve) => setTimeout(resolve, 5));
    state.set("v", ["3", "other"]);
    while (calls.allowed < 5) await new Promise((resolve) => setTimeout(resolve, 5));
    state.set("v", ["4", "other"]);
    expect(view((await pending).value!)).toEqual({ secrets: ["v@4=other"], removed: [], initial: false });
    // Listeners of finished waits are removed: at most the current wait's one stays on the signal.
    expect(getEventListeners(controller.signal, "abort").length).toBeLessThanOrEqual(1);
    controller.abort();
    expect((await changes.next()).done).toBe(true);
  });

  it("waits the interval ± jitter at random", async () => {
    const delays: number[] = [];
    const realSetTimeout = globalThis.setTimeout;
    vi.spyOn(globalThis, "setTimeout").mockImplementation(((fn: () => void, ms?: number) => {
      delays.push(ms ?? 0);
      return realSetTimeout(fn, 1);
    }) as typeof setTimeout);
    const state = new Map<string, [string, string] | Error>([["a", ["1", "x"]]]);
    const controller = new AbortController();
    const randoms = [0.75, 0, 1];
    const { src, calls } = source(state, { names: ["a"] }, controller, {
      intervalMs: 100,
      jitter: 0.5,
      random: () => randoms.shift() ?? 0.5,
    });
    const changes = secretChanges(src);
    await changes.next();
    const pending = changes.next();
    while (calls.allowed < 3) await new Promise((resolve) => realSetTimeout(resolve, 2));
    vi.restoreAllMocks();
    expect(delays.slice(0, 3)).toEqual([125, 50, 150]);
    controller.abort();
    await pending;
  });

  it("ends at once when aborted during a wait, and asks nothing after the abort", async () => {
    const controller = new AbortController();
    const { src, calls } = source(new Map([["a", ["1", "x"]]]), { names: ["a"] }, controller, { intervalMs: 3_600_000 });
    const changes = secretChanges(src);
    await changes.next();
    const pending = changes.next();
    await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort();
    expect((await pending).done).toBe(true);
    expect(calls.allowed).toBe(0);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
  });

  it("an already aborted signal ends the stream after the first state", async () => {
    const controller = new AbortController();
    controller.abort();
    const { src, calls } = source(new Map([["a", ["1", "x"]]]), { names: ["a"] }, controller);
    const all = [];
    for await (const change of secretChanges(src)) all.push(view(change));
    expect(all).toEqual([{ secrets: ["a@1=x"], removed: [], initial: true }]);
    expect(calls.allowed).toBe(0);
  });
});
