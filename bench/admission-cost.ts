/**
 * Scale curve 1: host CPU per admitted runtime. `runtimes` plugins handshake (each proving its name
 * with its own enrolment token, minted beforehand) and register one service, `concurrency` at a
 * time, through the real RPCs; the host process's CPU growth (/proc) divided by the runtimes.
 */
import { KVService } from "../gen/kv/v1/kv_pb.js";
import { startChild } from "./children.js";
import { bearer, handshake, hostRpc, mintTokens } from "./host-rpc.js";
import { onCleanup, processCpuMicros } from "./processes.js";

export interface AdmissionCost {
  runtimes: number;
  hostCpuUsPerRuntime: number;
  runtimesPerSec: number;
}

export async function measureAdmission(opts: { runtimes: number; concurrency: number }): Promise<AdmissionCost> {
  const host = await startChild<{ url: string }>("./router-host.ts", ["--scale"], [], 1);
  onCleanup(host.stop);
  const tokens = await mintTokens(host.ask, "admitted-", opts.runtimes);
  const rpc = hostRpc(host.info.url);
  onCleanup(rpc.close);
  const admit = async (i: number) => {
    const token = await handshake(rpc, `admitted-${i}`, tokens[i]!, { baseUrl: `http://127.0.0.1:${20_000 + i}` });
    await rpc.registry.register({ serviceType: KVService.typeName }, bearer(token));
  };
  // A few first, so the curve charges steady-state work, not JIT warm-up or the first connection.
  const warm = Math.min(20, Math.floor(opts.runtimes / 10));
  for (let i = 0; i < warm; i++) await admit(i);
  const cpu0 = processCpuMicros(host.pid);
  const t0 = performance.now();
  let next = warm;
  await Promise.all(
    Array.from({ length: opts.concurrency }, async () => {
      while (next < opts.runtimes) await admit(next++);
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const measured = opts.runtimes - warm;
  return { runtimes: measured, hostCpuUsPerRuntime: (processCpuMicros(host.pid) - cpu0) / measured, runtimesPerSec: measured / seconds };
}
