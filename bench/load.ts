import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { KVService } from "../gen/kv/v1/kv_pb.js";

export type Workload = "unary-c1" | "unary-c32" | "stream";

/** How much of a workload to run: calls in total, spread over `concurrency` workers. */
export interface LoadShape {
  calls: number;
  concurrency: number;
}

export interface LoadResult {
  /** Completed calls (unary) or received messages (stream) per second. */
  throughput: number;
  /** Per-call latency in ms (for a stream: first request byte to last message). */
  p50: number;
  p99: number;
}

/** A connect-es KV client over HTTP/2 with its own session; `close` releases the session. */
export function kvClient(baseUrl: string, token: string | undefined): { kv: Client<typeof KVService>; close(): void } {
  const sessionManager = new Http2SessionManager(baseUrl);
  const auth: Interceptor = (next) => (req) => {
    if (token !== undefined) req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
  const transport = createConnectTransport({ baseUrl, httpVersion: "2", sessionManager, interceptors: [auth] });
  return { kv: createClient(KVService, transport), close: () => sessionManager.abort() };
}

/** Runs `shape.calls` calls with `shape.concurrency` in flight, timing each one. */
export async function runLoad(kv: Client<typeof KVService>, workload: Workload, shape: LoadShape, expectMessages: number): Promise<LoadResult> {
  const latencies = new Float64Array(shape.calls);
  let next = 0;
  let messages = 0;
  const one = workload === "stream"
    ? async () => {
        let n = 0;
        for await (const _ of kv.list({ prefix: "k" })) n++;
        if (n !== expectMessages) throw new Error(`stream returned ${n} messages, expected ${expectMessages}`);
        messages += n;
      }
    : async () => {
        const res = await kv.get({ key: "bench" });
        if (!res.found) throw new Error("provider did not answer");
        messages++;
      };
  const worker = async () => {
    while (next < shape.calls) {
      const i = next++;
      const t0 = performance.now();
      await one();
      latencies[i] = performance.now() - t0;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: shape.concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort();
  return { throughput: messages / seconds, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) };
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: Float64Array | number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: number[]): number {
  return percentile([...values].sort((a, b) => a - b), 0.5);
}
