/**
 * retryCleanup (unregister and revoke at a plugin's stop): which failures are retried, the timeout
 * each attempt gets, and the backoff, read from when it gives up against a fixed clock.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { retryCleanup } from "../../../src/sdk/cleanup-retry.js";

/** A call failing with `codes` in turn, then answering "done"; records the timeout of each attempt. */
function scripted(codes: Code[]) {
  const timeouts: number[] = [];
  const call = async (timeoutMs: number) => {
    timeouts.push(timeoutMs);
    const code = codes[timeouts.length - 1];
    if (code !== undefined) throw new ConnectError(`attempt ${timeouts.length}`, code);
    return "done";
  };
  return { call, timeouts };
}

const fixed = (t: number) => () => t;

describe("retryCleanup", () => {
  it("retries Unavailable and DeadlineExceeded until the call succeeds", async () => {
    const s = scripted([Code.Unavailable, Code.DeadlineExceeded]);
    expect(await retryCleanup(s.call, 10_000, fixed(0))).toBe("done");
    expect(s.timeouts).toHaveLength(3);
  });

  it("passes any other failure on at once", async () => {
    const s = scripted([Code.PermissionDenied]);
    await expect(retryCleanup(s.call, 10_000, fixed(0))).rejects.toMatchObject({ code: Code.PermissionDenied, rawMessage: "attempt 1" });
    expect(s.timeouts).toHaveLength(1);
  });

  it("gives each attempt the time left, from 100 ms to 2 s", async () => {
    const big = scripted([]);
    await retryCleanup(big.call, 5_000, fixed(0));
    const mid = scripted([]);
    await retryCleanup(mid.call, 700, fixed(0));
    const tiny = scripted([]);
    await retryCleanup(tiny.call, 30, fixed(0));
    expect([big.timeouts, mid.timeouts, tiny.timeouts]).toEqual([[2_000], [700], [100]]);
  });

  it("the time left is counted from the clock's now, not from zero", async () => {
    const T = 1_800_000_000_000;
    const mid = scripted([]);
    await retryCleanup(mid.call, T + 700, fixed(T));
    const past = scripted([]);
    await retryCleanup(past.call, T - 5_000, fixed(T));
    expect([mid.timeouts, past.timeouts]).toEqual([[700], [100]]);
  });

  it("waits 100 ms, then 200, then 250 at most: it gives up, with the last error, when the next wait reaches the deadline", async () => {
    const all = [Code.Unavailable, Code.Unavailable, Code.Unavailable, Code.Unavailable, Code.Unavailable];
    const cases: [number, number][] = [
      [100, 1], // 0 + 100 >= 100: no retry
      [101, 2], // then 0 + 200 >= 101
      [200, 2],
      [201, 3], // then 0 + 250 >= 201
      [250, 3],
      [251, 5], // 250 again, then the script runs out of failures
    ];
    for (const [deadline, attempts] of cases) {
      const s = scripted(all.slice(0, 4));
      const outcome = await retryCleanup(s.call, deadline, fixed(0)).then(
        (v) => v,
        (e: unknown) => ConnectError.from(e).rawMessage,
      );
      expect([deadline, s.timeouts.length, outcome]).toEqual([deadline, attempts, attempts === 5 ? "done" : `attempt ${attempts}`]);
    }
  });
});
