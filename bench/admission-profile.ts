/**
 * Profiles the host under bench/admission-cost.ts's load (enrolment-token handshake + Register per
 * runtime, through the real RPCs):
 *   tsx bench/admission-profile.ts <dir> [runtimes=600] [concurrency=8]
 * writes the host's .cpuprofile into <dir> (the main thread's is the `.0.` file); read it with
 *   tsx bench/cpuprofile-summary.ts <file> [top] [filter|-] [startAt]
 * (startAt "registry/service" leaves out start-up and token minting).
 */
import { KVService } from "../gen/kv/v1/kv_pb.js";
import { startChild } from "./children.js";
import { bearer, handshake, hostRpc, mintTokens } from "./host-rpc.js";
import { cleanupAll, onCleanup } from "./processes.js";

const dir = process.argv[2] ?? ".";
const runtimes = Number(process.argv[3] ?? 600);
const concurrency = Number(process.argv[4] ?? 8);
const host = await startChild<{ url: string }>("./router-host.ts", ["--scale"], ["--cpu-prof", "--cpu-prof-dir", dir], 1);
onCleanup(host.stop);
const tokens = await mintTokens(host.ask, "admitted-", runtimes);
const rpc = hostRpc(host.info.url);
let next = 0;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < runtimes) {
      const i = next++;
      const token = await handshake(rpc, `admitted-${i}`, tokens[i]!, { baseUrl: `http://127.0.0.1:${20_000 + i}` });
      await rpc.registry.register({ serviceType: KVService.typeName }, bearer(token));
    }
  }),
);
rpc.close();
await new Promise((r) => setImmediate(r));
await cleanupAll();
