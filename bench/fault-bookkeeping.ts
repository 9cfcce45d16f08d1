/**
 * Micro-benchmark of the per-call bookkeeping issue 20 added to the router's healthy path: the
 * per-service pending count, the per-provider in-flight count, and the outlier detector's filter and
 * success report when no provider has failed. Prints ns per call and heap growth (should be ~0).
 *   npx tsx bench/fault-bookkeeping.ts
 */
import { CallCounts } from "../src/router/call-counts.js";
import { createOutlierDetector } from "../src/router/outlier-ejection.js";

const N = 5_000_000;
const candidates = [{ runtimeId: "rt-a" }, { runtimeId: "rt-b" }, { runtimeId: "rt-c" }];
const detector = createOutlierDetector();
const pending = new CallCounts();
const inFlight = new CallCounts();
let sink = 0;

function oneCall(i: number): void {
  const service = "kv.v1.KVService";
  if (pending.get(service) >= 4096) throw new Error("cap");
  pending.increment(service);
  const list = detector.filter(candidates);
  const target = list[i % list.length]!;
  if (inFlight.get(target.runtimeId) >= 1024) throw new Error("cap");
  inFlight.increment(target.runtimeId);
  pending.decrement(service);
  // ... the call runs; at its end:
  detector.success(target.runtimeId);
  inFlight.decrement(target.runtimeId);
  const m = inFlight.get(target.runtimeId) + 1;
  sink += m;
}

for (let i = 0; i < N; i++) oneCall(i); // warm-up
globalThis.gc?.();
const heapBefore = process.memoryUsage().heapUsed;
const t0 = process.hrtime.bigint();
for (let i = 0; i < N; i++) oneCall(i);
const ns = Number(process.hrtime.bigint() - t0) / N;
const heapAfter = process.memoryUsage().heapUsed;
console.log(`added bookkeeping: ${ns.toFixed(1)} ns per call over ${N} calls; heap ${((heapAfter - heapBefore) / 1024).toFixed(0)} KiB (${sink > 0 ? "ok" : "?"})`);
