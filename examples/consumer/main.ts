/**
 * Consumer plugin: calls the KV provider through the host, one call of each kind.
 * `PLUGBOARD_ENROLMENT_TOKEN=<from plugboard enrol consumer> PLUGBOARD_HOST_URL=http://127.0.0.1:7000 tsx examples/consumer/main.ts`
 * (launched by a host, its launch secret proves its name instead).
 */
import { pino } from "pino";
import { KVService } from "../../gen/kv/v1/kv_pb.js";
import { createLogger } from "../../src/log/logger.js";
import { createPlugin, requireService } from "../../src/sdk/index.js";
import { EXAMPLE_COOKIE } from "../cookie.js";
import { runKvTour } from "./run.js";

const plugin = createPlugin({
  name: "consumer",
  version: "1.0.0",
  magicCookie: EXAMPLE_COOKIE,
  requires: [requireService(KVService, { versionRange: "^1.0.0" })],
  retry: { maxAttempts: 4 },
  logger: createLogger({ name: "consumer", destination: pino.destination(2) }),
});

let exitCode = 0;
try {
  await plugin.start();
  console.log(`consumer ${plugin.runtimeId} connected`);
  await runKvTour(plugin.client(KVService));
  console.log("done");
} catch (e) {
  console.error(`consumer failed: ${String(e)}`);
  exitCode = 1;
} finally {
  await plugin.stop();
}
process.exit(exitCode);
