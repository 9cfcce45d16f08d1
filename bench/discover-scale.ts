/**
 * Scale curve 2: a Discover page's latency against the number of providers of the service. The
 * store is filled straight (bench/populate.ts) to each size in turn; at each, a consumer's Discover
 * for the first page (default page_size) is timed `samples` times, median reported, with the host's
 * CPU per Discover. A paged Discover should cost the same at 10 and at 10 000 providers.
 */
import { KVService } from "../gen/kv/v1/kv_pb.js";
import { startChild } from "./children.js";
import { median } from "./load.js";
import { bearer, handshake, hostRpc, mintTokens } from "./host-rpc.js";
import { onCleanup, processCpuMicros } from "./processes.js";

export interface DiscoverPoint {
  providers: number;
  pageItems: number;
  medianMs: number;
  hostCpuUs: number;
}

export async function measureDiscover(opts: { sizes: number[]; samples: number }): Promise<DiscoverPoint[]> {
  const host = await startChild<{ url: string }>("./router-host.ts", ["--scale"], [], 1);
  onCleanup(host.stop);
  const rpc = hostRpc(host.info.url);
  onCleanup(rpc.close);
  const [token] = await mintTokens(host.ask, "discoverer-", 1);
  const consumer = await handshake(rpc, "discoverer-0", token!, "consumer");
  const points: DiscoverPoint[] = [];
  for (const size of opts.sizes) {
    await host.ask(`populate ${size} ${KVService.typeName}`);
    const discover = () => rpc.registry.discover({ serviceType: KVService.typeName }, bearer(consumer));
    for (let i = 0; i < 5; i++) await discover(); // warm-up at this size
    const times: number[] = [];
    let items = 0;
    const cpu0 = processCpuMicros(host.pid);
    for (let i = 0; i < opts.samples; i++) {
      const t0 = performance.now();
      items = (await discover()).providers.length;
      times.push(performance.now() - t0);
    }
    points.push({ providers: size, pageItems: items, medianMs: median(times), hostCpuUs: (processCpuMicros(host.pid) - cpu0) / opts.samples });
  }
  return points;
}
