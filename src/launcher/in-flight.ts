/**
 * Counts routed calls in flight per provider runtime. The host feeds it from the router's
 * onCallStart / onCallEnd hooks and exposes `host.inFlight(runtimeId)`, which the launcher's
 * replace() waits on, so it waits for exactly the calls already routed to the old instance.
 */
export function createInFlightCounter() {
  const counts = new Map<string, number>();
  const start = (id: string) => counts.set(id, (counts.get(id) ?? 0) + 1);
  const end = (id: string) => {
    const left = (counts.get(id) ?? 0) - 1;
    if (left > 0) counts.set(id, left);
    else counts.delete(id);
  };
  return {
    /** Router: a call was resolved to `runtimeId` and is about to be forwarded. */
    onCallStart(info: { runtimeId: string }) {
      start(info.runtimeId);
    },
    /** Router: a call ended; calls refused before resolution carry no runtime ID and are ignored. */
    onCallEnd(info: { runtimeId?: string | undefined }) {
      if (info.runtimeId !== undefined) end(info.runtimeId);
    },
    /** Router: a call no provider processed moved to another provider (the one safe retry). */
    onCallRetried(info: { from: string; to: string }) {
      end(info.from);
      start(info.to);
    },
    count: (runtimeId: string): number => counts.get(runtimeId) ?? 0,
  };
}
