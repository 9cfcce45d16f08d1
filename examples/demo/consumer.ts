/**
 * The demo's consumer: a tour of every call kind through the host, a line written through the
 * host's log capability, then a burst that runs into the host's rate limit once and recovers.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { pino } from "pino";
import { LogService } from "../../gen/hostlog/v1/hostlog_pb.js";
import { KVService } from "../../gen/kv/v1/kv_pb.js";
import { createLogger } from "../../src/log/logger.js";
import { retryDelayMs } from "../../src/router/retry-info.js";
import { createPlugin, requireService } from "../../src/sdk/index.js";
import { runKvTour } from "../consumer/run.js";
import { EXAMPLE_COOKIE } from "../cookie.js";

const plugin = createPlugin({
  name: "consumer",
  version: "1.0.0",
  magicCookie: EXAMPLE_COOKIE,
  requires: [requireService(KVService, { versionRange: "^1.0.0" })],
  capabilities: [LogService],
  logger: createLogger({ name: "consumer", level: "warn", destination: pino.destination(2) }),
});

let exitCode = 0;
try {
  await plugin.start();
  console.log(`connected as ${plugin.runtimeId}`);
  const kv = plugin.client(KVService);
  await runKvTour(kv);

  const log = await plugin.capability(LogService);
  await log.write({ level: "info", message: "hello from the consumer, through a broker grant" });
  console.log("wrote a line into the host log through the LogService capability");

  let refusedAfter: number | undefined;
  for (let i = 1; i <= 50 && refusedAfter === undefined; i++) {
    try {
      await kv.get({ key: "greeting" });
    } catch (e) {
      const err = ConnectError.from(e);
      if (err.code !== Code.ResourceExhausted) throw err;
      refusedAfter = i;
      const wait = retryDelayMs(err) ?? 1000;
      console.log(`call ${i} refused by the host's rate limit (${err.rawMessage}); retrying in ${wait} ms`);
      await new Promise((r) => setTimeout(r, wait));
      const again = await kv.get({ key: "greeting" });
      console.log(`after waiting: get greeting -> found=${again.found}`);
    }
  }
  if (refusedAfter === undefined) console.log("the rate limit was never reached");
} catch (e) {
  console.error(`consumer failed: ${String(e)}`);
  exitCode = 1;
} finally {
  await plugin.stop();
  console.log("stopped cleanly");
}
process.exit(exitCode);
