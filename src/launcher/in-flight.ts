import { CallCounts } from "../router/call-counts.js";

/**
 * Counts routed calls in flight per provider runtime. The host feeds it from the router's
 * onCallStart / onCallEnd hooks and exposes `host.inFlight(runtimeId)`, which the launcher's
 * replace() waits on, so it waits for exactly the calls already routed to the old instance.
 * (CallCounts: a count that drops to zero is kept, not deleted and re-added on every call.)
 */
export function createInFlightCounter() {
  const counts = new CallCounts();
  return {
    /** Router: a call was resolved to `runtimeId` and is about to be forwarded. */
    onCallStart(info: { runtimeId: string }) {
      counts.increment(info.runtimeId);
    },
    /** Router: a call ended; calls refused before resolution carry no runtime ID and are ignored. */
    onCallEnd(info: { runtimeId?: string | undefined }) {
      if (info.runtimeId !== undefined) counts.decrement(info.runtimeId);
    },
    /** Router: a call no provider processed moved to another provider (the one safe retry). */
    onCallRetried(info: { from: string; to: string }) {
      counts.decrement(info.from);
      counts.increment(info.to);
    },
    count: (runtimeId: string): number => counts.get(runtimeId),
  };
}
