import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import { createPluginHost } from "../src/host/create.js";
import { enrolmentTokens } from "./enrol.js";
import { silentLogger } from "../src/log/logger.js";
import { createBareProxy } from "./proxy-baseline.js";
import { BENCH_COOKIE, NEVER_REFUSE } from "./bench-host-options.js";


/**
 * The benchmark's middle child: the bare proxy and a real plugin host side by side, so both
 * proxies run on the same (separate) event loop and core as each other.
 * Usage: `tsx bench/front.ts <provider-url>`; prints one JSON line with both URLs.
 */
async function main(): Promise<void> {
  const providerUrl = process.argv[2];
  if (providerUrl === undefined) throw new Error("usage: front.ts <provider-url>");

  const proxy = createBareProxy({ endpoint: providerUrl });
  const proxyServer = http2.createServer((req, res) => proxy.handle(req, res));
  await new Promise<void>((resolve) => proxyServer.listen(0, "127.0.0.1", resolve));

  const host = createPluginHost({
    magicCookie: BENCH_COOKIE,
    logger: silentLogger(),
    // The audit code path runs, written nowhere.
    auditLog: { destination: () => undefined },
    rateLimit: { perCaller: NEVER_REFUSE, perService: NEVER_REFUSE },
    // The bench's provider registers once and sends no heartbeat: no lease to run out mid-bench.
    registrationLeaseMs: 0,
  });
  const server = await host.listen({ hostname: "127.0.0.1" });
  // The bench's plugins prove their names with enrolment tokens this host mints for them.
  const enrolment = await enrolmentTokens(host);
  // A second host whose provider is registered as gRPC-only: its Connect callers are translated.
  const bridgeHost = createPluginHost({
    magicCookie: BENCH_COOKIE,
    logger: silentLogger(),
    auditLog: { destination: () => undefined },
    rateLimit: { perCaller: NEVER_REFUSE, perService: NEVER_REFUSE },
    // The bench's provider registers once and sends no heartbeat: no lease to run out mid-bench.
    registrationLeaseMs: 0,
  });
  const bridgeServer = await bridgeHost.listen({ hostname: "127.0.0.1" });
  const bridgeEnrolment = await enrolmentTokens(bridgeHost);

  console.log(
    JSON.stringify({
      proxyUrl: `http://127.0.0.1:${(proxyServer.address() as AddressInfo).port}`,
      hostUrl: server.url,
      enrolment,
      bridgeHostUrl: bridgeServer.url,
      bridgeEnrolment,
    }),
  );
  // "cpu" on stdin answers this process's CPU time so far (µs), so the bench can charge each
  // proxy its own CPU per call, a measure far less disturbed by other processes than latency.
  createInterface({ input: process.stdin }).on("line", (line) => {
    if (line.trim() === "cpu") {
      const { user, system } = process.cpuUsage();
      console.log(JSON.stringify({ cpuMicros: user + system }));
    }
  });
  // Exit on stdin end (the bench process is done); exiting (not closing) lets --cpu-prof write its profile.
  process.stdin.on("end", () => process.exit(0));
}

if (process.argv[1]?.endsWith("front.ts")) await main();
