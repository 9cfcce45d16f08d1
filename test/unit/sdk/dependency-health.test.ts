import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it, vi } from "vitest";
import { HealthState } from "../../../gen/plugboard/v1/common_pb.js";
import { WatchEventType, WatchResponseSchema, type WatchResponse } from "../../../gen/plugboard/v1/registry_pb.js";
import { watchDependencies } from "../../../src/sdk/dependency-health.js";

const event = (type: WatchEventType, regs: Array<[string, string, HealthState]>, complete = true): WatchResponse =>
  create(WatchResponseSchema, {
    type,
    registrations: regs.map(([serviceType, registrationId, health]) => ({ registrationId, serviceType, health })),
    // As the host sends them: only a snapshot's messages say whether it is complete.
    snapshotComplete: type === WatchEventType.SNAPSHOT && complete,
  });

/** Reports as they come, each awaitable in turn. */
function reportLog() {
  const reports: Array<[string, string]> = [];
  const waiters: Array<() => void> = [];
  return {
    reports,
    async report(state: "healthy" | "degraded", message: string) {
      reports.push([state, message]);
      for (const w of waiters.splice(0)) w();
    },
    async until(n: number) {
      while (reports.length < n) await new Promise<void>((r) => waiters.push(r));
    },
  };
}

const snapshotPart = (type: string, id: string, complete: boolean): WatchResponse =>
  create(WatchResponseSchema, {
    type: WatchEventType.SNAPSHOT,
    registrations: [{ registrationId: id, serviceType: type, health: HealthState.HEALTHY }],
    snapshotComplete: complete,
  });

describe("watchDependencies", () => {
  it("judges a snapshot split over several messages once it is complete, keeping every part", async () => {
    const reports: Array<[string, string]> = [];
    let reported!: () => void;
    const done = new Promise<void>((resolve) => (reported = resolve));
    const deps = watchDependencies({
      required: ["kv.v1.KV", "log.v1.Log"],
      async *watch(_types, signal) {
        yield snapshotPart("kv.v1.KV", "rg_1", false);
        yield snapshotPart("log.v1.Log", "rg_2", true);
        await new Promise((resolve) => signal.addEventListener("abort", resolve));
      },
      async report(state, message) {
        reports.push([state, message]);
        reported();
      },
    });
    await done;
    deps.stop();
    expect(reports).toEqual([["healthy", ""]]);
  });

  it("reports DEGRADED naming each service without a healthy provider, HEALTHY once they are back, and nothing twice", async () => {
    const log = reportLog();
    let push!: (e: WatchResponse) => void;
    const queue: WatchResponse[] = [];
    let wake: (() => void) | undefined;
    push = (e) => {
      queue.push(e);
      wake?.();
    };
    const deps = watchDependencies({
      required: ["kv.v1.KV", "log.v1.Log"],
      async *watch(types, signal) {
        expect(types).toEqual(["kv.v1.KV", "log.v1.Log"]);
        while (!signal.aborted) {
          const next = queue.shift();
          if (next) yield next;
          else await new Promise<void>((r) => (wake = r));
        }
      },
      report: log.report,
    });
    try {
      push(event(WatchEventType.SNAPSHOT, [["kv.v1.KV", "rg_1", HealthState.UNHEALTHY]]));
      await log.until(1);
      expect(log.reports[0]).toEqual(["degraded", "no healthy provider of kv.v1.KV, log.v1.Log"]);
      push(event(WatchEventType.ADDED, [["log.v1.Log", "rg_2", HealthState.DEGRADED]]));
      await log.until(2);
      expect(log.reports[1]).toEqual(["degraded", "no healthy provider of kv.v1.KV"]);
      // The same verdict again is not re-sent.
      push(event(WatchEventType.UPDATED, [["log.v1.Log", "rg_2", HealthState.HEALTHY]]));
      push(event(WatchEventType.UPDATED, [["kv.v1.KV", "rg_1", HealthState.HEALTHY]]));
      await log.until(3);
      expect(log.reports[2]).toEqual(["healthy", ""]);
      push(event(WatchEventType.REMOVED, [["log.v1.Log", "rg_2", HealthState.HEALTHY]]));
      await log.until(4);
      expect(log.reports).toEqual([
        ["degraded", "no healthy provider of kv.v1.KV, log.v1.Log"],
        ["degraded", "no healthy provider of kv.v1.KV"],
        ["healthy", ""],
        ["degraded", "no healthy provider of log.v1.Log"],
      ]);
    } finally {
      deps.stop();
      wake?.();
    }
  });

  it("watches again after the stream fails, with a fresh view, and tells onError", async () => {
    const log = reportLog();
    const errors: unknown[] = [];
    let streams = 0;
    const deps = watchDependencies({
      required: ["kv.v1.KV"],
      retryMs: 5,
      async *watch(_types, signal) {
        streams++;
        if (streams === 1) {
          yield event(WatchEventType.SNAPSHOT, [["kv.v1.KV", "rg_1", HealthState.HEALTHY]]);
          throw new Error("stream broke");
        }
        // The second stream's snapshot no longer lists rg_1: nothing carried over from the first.
        yield event(WatchEventType.SNAPSHOT, [["kv.v1.KV", "rg_2", HealthState.UNHEALTHY]]);
        await new Promise((resolve) => signal.addEventListener("abort", resolve));
      },
      report: log.report,
      onError: (e) => errors.push(e),
    });
    try {
      await log.until(2);
      expect(log.reports).toEqual([
        ["healthy", ""],
        ["degraded", "no healthy provider of kv.v1.KV"],
      ]);
      expect(errors.map(String)).toEqual(["Error: stream broke"]);
    } finally {
      deps.stop();
    }
  });

  it("after stop, a stream ending is neither reported as an error nor watched again", async () => {
    let streams = 0;
    const errors: unknown[] = [];
    let ended!: () => void;
    const streamEnded = new Promise<void>((r) => (ended = r));
    const deps = watchDependencies({
      required: ["kv.v1.KV"],
      retryMs: 1,
      async *watch(_types, signal) {
        streams++;
        yield event(WatchEventType.SNAPSHOT, [["kv.v1.KV", "rg_1", HealthState.HEALTHY]]);
        if (!signal.aborted) await new Promise((resolve) => signal.addEventListener("abort", resolve));
        ended();
        throw new Error("aborted");
      },
      report: async () => {
        deps.stop();
      },
      onError: (e) => errors.push(e),
    });
    await streamEnded;
    await new Promise((r) => setTimeout(r, 50)); // a retry (1 ms) would have started by now
    expect(streams).toBe(1);
    expect(errors).toEqual([]);
  });

  it("with no required service, does not watch", async () => {
    let watched = false;
    const deps = watchDependencies({
      required: [],
      async *watch() {
        watched = true;
      },
      report: async () => {},
    });
    await new Promise((r) => setImmediate(r));
    deps.stop();
    expect(watched).toBe(false);
  });

  describe("waits before watching again", () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    /** A watch whose first `failing` streams fail at once, then one holds; counts the streams. */
    function failingWatch(failing: number, retryMs?: number, withOnError = true) {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const errors: unknown[] = [];
      let streams = 0;
      const deps = watchDependencies({
        required: ["kv.v1.KV"],
        ...(retryMs !== undefined ? { retryMs } : {}),
        async *watch(_types, signal) {
          streams++;
          if (streams <= failing) throw new Error(`stream ${streams} failed`);
          yield event(WatchEventType.SNAPSHOT, [["kv.v1.KV", "rg_1", HealthState.HEALTHY]]);
          if (!signal.aborted) await new Promise((resolve) => signal.addEventListener("abort", resolve));
        },
        report: async () => {},
        ...(withOnError ? { onError: (e: unknown) => errors.push(e) } : {}),
      });
      return { deps, errors, streams: () => streams };
    }

    it("retryMs after each failure", async () => {
      const t = failingWatch(2, 5_000);
      try {
        await vi.advanceTimersByTimeAsync(0);
        expect(t.streams()).toBe(1);
        await vi.advanceTimersByTimeAsync(4_999);
        expect(t.streams()).toBe(1);
        await vi.advanceTimersByTimeAsync(1);
        expect(t.streams()).toBe(2);
        await vi.advanceTimersByTimeAsync(4_999);
        expect(t.streams()).toBe(2);
        await vi.advanceTimersByTimeAsync(1);
        expect(t.streams()).toBe(3);
        expect(t.errors.map(String)).toEqual(["Error: stream 1 failed", "Error: stream 2 failed"]);
      } finally {
        t.deps.stop();
      }
    });

    it("1 s by default, and without onError too", async () => {
      const t = failingWatch(1, undefined, false);
      try {
        await vi.advanceTimersByTimeAsync(999);
        expect(t.streams()).toBe(1);
        await vi.advanceTimersByTimeAsync(1);
        expect(t.streams()).toBe(2);
      } finally {
        t.deps.stop();
      }
    });
  });
});
