/**
 * Where a Register's fan-out to many Watch streams spends its time (issue 17, watch gate). The
 * set-up of bench/watch-fanout.ts, plus: the host's and the watchers' CPU over the rounds (/proc),
 * per delivered event; the first and the last watcher's arrival; optional CPU profiles.
 *   tsx bench/watch-probe.ts [--watchers 1000] [--rounds 10] [--client connect|raw] [--host-checkout <dir>] [--prof /tmp/dir]
 * With --prof, both children write a --cpu-prof profile into the dir (the whole run, set-up included).
 */
import { parseArgs } from "node:util";
import { KVService } from "../gen/kv/v1/kv_pb.js";
import { ensureBuilt } from "./built.js";
import { median } from "./load.js";
import { bearer } from "./host-rpc.js";
import { cleanupAll, processCpuMicros } from "./processes.js";
import { startFanout } from "./watch-fanout.js";
import { epochMs } from "./watchers.js";

const { values } = parseArgs({ options: { watchers: { type: "string", default: "1000" }, rounds: { type: "string", default: "10" }, client: { type: "string", default: "connect" }, "host-checkout": { type: "string" }, prof: { type: "string" } } });
const watcherCount = Number(values.watchers);
const rounds = Number(values.rounds);
const client = values.client === "raw" ? "raw" : "connect";
const prof = values.prof ? ["--cpu-prof", `--cpu-prof-dir=${values.prof}`] : [];

// --host-checkout <dir>: that checkout's host instead (before/after in one interleaved session).
const hostFile = values["host-checkout"] ? `${values["host-checkout"]}/bench/router-host.ts` : "./router-host.ts";
ensureBuilt(); // the host runs from dist/ (bench/built.ts); another checkout's must be built already
const { host, rpc, watchers, token } = await startFanout({ watchers: watcherCount, client, hostFile, nodeFlags: prof });

const firsts: number[] = [];
const lasts: number[] = [];
const windowStart = process.hrtime.bigint() / 1000n; // µs, the clock of --cpu-prof's timestamps
const hostCpu0 = processCpuMicros(host.pid);
const watchersCpu0 = processCpuMicros(watchers.pid);
for (let round = 0; round < rounds; round++) {
  await watchers.ask("ADDED");
  const seen = watchers.next();
  const { registration } = await rpc.registry.register({ serviceType: KVService.typeName }, bearer(token));
  const returned = epochMs();
  const { firstAt, lastAt } = JSON.parse(await seen) as { firstAt: number; lastAt: number };
  firsts.push(firstAt - returned);
  lasts.push(lastAt - returned);
  await watchers.ask("REMOVED");
  const removed = watchers.next();
  await rpc.registry.unregister({ registrationId: registration!.registrationId }, bearer(token));
  await removed;
}
const windowEnd = process.hrtime.bigint() / 1000n;
const deliveries = 2 * rounds * watcherCount;
const hostUs = (processCpuMicros(host.pid) - hostCpu0) / deliveries;
const watchersUs = (processCpuMicros(watchers.pid) - watchersCpu0) / deliveries;
console.log(
  `${watcherCount} ${client} watchers, ${rounds} rounds: first ${median(firsts).toFixed(1)} ms, last ${median(lasts).toFixed(1)} ms after Register returned (medians); ` +
    `CPU per delivered event: host ${hostUs.toFixed(1)} µs, watchers ${watchersUs.toFixed(1)} µs`,
);
console.log(`rounds window (µs, monotonic): ${windowStart} ${windowEnd}`);
console.log(`lasts: ${lasts.map((x) => x.toFixed(0)).join(" ")}`);
// The watchers first, then the host once it has seen them go (a profile is written on a clean exit).
await watchers.stop();
await new Promise((resolve) => setTimeout(resolve, 3_000));
await cleanupAll();
process.exit(0);
