/**
 * The Plugboard router as a real host runs it, alone in its process (so /proc charges it its own
 * CPU): token auth, declared-dependency policy, a rate limit on every call (budgets too large to
 * refuse), the audit code path (written nowhere), and issue 20's fault bookkeeping — passive
 * outlier ejection and registration leases — on by default.
 *   tsx bench/router-host.ts [--faults-off] [--scale]
 * --faults-off: outlierEjection false and registrationLeaseMs 0 (the healthy-path cost row).
 * --scale: admission limits raised for the scale curves (every runtime comes from one loopback peer).
 * Prints `{"url", "enrolment"}`; stdin lines: `tokens <prefix> <n>` mints n enrolment tokens
 * (`<prefix><i>`), `populate <n> <service>` puts runtimes with one registration each straight into the
 * store (Discover at scale); exits when stdin closes.
 */
import { createInterface } from "node:readline";
import type { PluginHost } from "../src/host/create.js";
import { built } from "./built.js";
import { enrolmentTokens } from "./enrol.js";
import { BENCH_COOKIE, NEVER_REFUSE } from "./bench-host-options.js";
import { startAllocationProfile } from "./alloc-profile.js";

async function main(): Promise<void> {
  const allocationProfileWritten = await startAllocationProfile();
  const faultsOff = process.argv.includes("--faults-off");
  const scale = process.argv.includes("--scale");
  // The compiled host, as users run it (bench/built.ts).
  const { createPluginHost } = (await import(built("src/host/create.js"))) as typeof import("../src/host/create.js");
  const { silentLogger } = (await import(built("src/log/logger.js"))) as typeof import("../src/log/logger.js");
  const host = createPluginHost({
    magicCookie: BENCH_COOKIE,
    logger: silentLogger(),
    auditLog: { destination: () => undefined },
    rateLimit: { perCaller: NEVER_REFUSE, perService: NEVER_REFUSE },
    ...(faultsOff ? { outlierEjection: false as const, registrationLeaseMs: 0 } : {}),
    ...(scale ? { limits: { handshakesPerSecond: 1_000_000, handshakeBurst: 1_000_000 } } : {}),
  });
  const server = await host.listen({ hostname: "127.0.0.1" });
  console.log(JSON.stringify({ url: server.url, enrolment: await enrolmentTokens(host) }));
  createInterface({ input: process.stdin }).on("line", (line) => void command(host, line.trim().split(" ")));
  process.stdin.on("end", () => void allocationProfileWritten().finally(() => process.exit(0)));
}

async function command(host: PluginHost, [verb, a, b]: string[]): Promise<void> {
  if (verb === "tokens") {
    const tokens: string[] = [];
    for (let i = 0; i < Number(b); i++) tokens.push((await host.issueEnrolmentToken(`${a}${i}`)).token);
    console.log(JSON.stringify({ tokens }));
  } else if (verb === "populate") {
    const { populate } = await import("./populate.js");
    console.log(JSON.stringify({ providers: await populate(host.store, Number(a), b!) }));
  }
}

if (process.argv[1]?.endsWith("router-host.ts")) await main();
