import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { KVService } from "../gen/kv/v1/kv_pb.js";

/** Messages one List call streams back (the benchmark's server-stream workload). */
export const LIST_MESSAGES = 100;

/**
 * The benchmark's provider child: a KVService over h2c on loopback that answers from constants
 * and does not check the caller header, so every variant measures the same provider work.
 */
async function main(): Promise<void> {
  const value = new Uint8Array(16).fill(7);
  const server = http2.createServer(
    connectNodeAdapter({
      routes: (r) =>
        r.service(KVService, {
          get: (req) => ({ key: req.key, value, found: true }),
          async *list(req) {
            for (let i = 0; i < LIST_MESSAGES; i++) yield { key: `${req.prefix}${i}`, value };
          },
        }),
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  console.log(JSON.stringify({ providerUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  // The bench process owns us: when it goes (stdin closes), so do we.
  process.stdin.on("end", () => process.exit(0)).resume();
}

if (process.argv[1]?.endsWith("kv-provider.ts")) await main();
