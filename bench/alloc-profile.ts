/**
 * `BENCH_ALLOC_PROF=<dir>` for a bench child: V8's sampling heap profiler over the whole run, counting
 * objects the GC collected as well (what a call allocates and drops is what scavenges cost), written to
 * `<dir>/<pid>.heapprofile` when the child exits. Unlike a CPU profile on a loaded machine, allocation
 * samples do not depend on how the child was scheduled. Summarise with bench/heapprofile-summary.ts.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { join } from "node:path";

/** Starts sampling when the variable is set; returns what to await before exiting. */
export async function startAllocationProfile(): Promise<() => Promise<void>> {
  const dir = process.env["BENCH_ALLOC_PROF"];
  if (!dir) return async () => undefined;
  const session = new Session();
  session.connect();
  await session.post("HeapProfiler.startSampling", {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  } as object);
  return async () => {
    const { profile } = await session.post("HeapProfiler.stopSampling");
    writeFileSync(join(dir, `${process.pid}.heapprofile`), JSON.stringify(profile));
    session.disconnect();
  };
}
