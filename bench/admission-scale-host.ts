/**
 * The host child of bench/admission-scale.ts: a memory host with its real logger (info, to
 * /dev/null) and audit log (serialised, written nowhere), admission caps raised so the scale runs
 * are not refused. Prints one JSON line `{"url": ...}`, then answers one line per command:
 *   tokens <n> <prefix>     → JSON array of n enrolment tokens, for plugin names <prefix>0 … <prefix>(n-1)
 *   cpu                     → JSON { user, system } µs of this process so far
 *   seed <type> <n>         → registers n providers of <type> straight into the store (no RPCs): "ok"
 *   profile-start / profile-stop <file>  → a CPU profile of just the commands in between (node:inspector): "ok"
 * Exits when stdin closes (a --cpu-prof profile is written then).
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { createInterface } from "node:readline";
import { pino } from "pino";
import { createPluginHost } from "../src/host/create.js";
import { createLogger } from "../src/log/logger.js";
import { randomId } from "../src/tokens/tokens.js";

export const SCALE_COOKIE = { key: "PLUGBOARD_BENCH_SCALE", value: "bench-scale-cookie" };

async function main(): Promise<void> {
  const host = createPluginHost({
    magicCookie: SCALE_COOKIE,
    logger: createLogger({ destination: pino.destination({ dest: "/dev/null", sync: true }) }),
    auditLog: { destination: () => undefined },
    limits: {
      handshakesPerSecond: 1_000_000,
      handshakeBurst: 1_000_000,
      maxRuntimes: 100_000,
      maxRuntimesPerName: 100_000,
      registrationsPerService: 100_000,
      watchersPerRuntime: 100_000,
      watchBuffer: 100_000,
    },
  });
  const server = await host.listen({ hostname: "127.0.0.1" });
  console.log(JSON.stringify({ url: server.url }));
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    void answer(line.trim().split(/\s+/)).then(
      (out) => console.log(out),
      (e: unknown) => console.log(JSON.stringify({ error: String(e) })),
    );
  });
  lines.on("close", () => void host.close().finally(() => process.exit(0)));

  let profiler: Session | undefined;
  async function answer([command, a, b]: string[]): Promise<string> {
    switch (command) {
      case "tokens": {
        const tokens: string[] = [];
        for (let i = 0; i < Number(a); i++) tokens.push((await host.issueEnrolmentToken(`${b}${i}`)).token);
        return JSON.stringify(tokens);
      }
      case "cpu":
        return JSON.stringify(process.cpuUsage());
      case "seed": {
        for (let i = 0; i < Number(b); i++) {
          await host.store.putRegistration({
            registrationId: randomId("rg_"),
            serviceType: a!,
            version: "1.0.0",
            runtimeId: `rt_seed${i}`,
            pluginName: `seed${i}`,
            endpoint: `http://127.0.0.1:${1024 + (i % 60_000)}`,
            metadata: { zone: `z${i % 3}` },
            weight: 1 + (i % 5),
            health: 1,
          });
        }
        return "ok";
      }
      case "profile-start":
        profiler = new Session();
        profiler.connect();
        await profiler.post("Profiler.enable");
        await profiler.post("Profiler.setSamplingInterval", { interval: 200 });
        await profiler.post("Profiler.start");
        return "ok";
      case "profile-stop": {
        const { profile } = await profiler!.post("Profiler.stop");
        writeFileSync(a!, JSON.stringify(profile));
        profiler!.disconnect();
        return "ok";
      }
      default:
        throw new Error(`unknown command ${command}`);
    }
  }
}

if (process.argv[1]?.endsWith("admission-scale-host.ts")) await main();
