/**
 * `npm start`: a host with a KV provider and a consumer as real child processes on loopback.
 * They handshake, register, discover, call through the router (unary and streaming), use a host
 * capability, hit the rate limit once, and shut down cleanly. Each launched plugin proves its
 * name with its launch secret; a stranger who knows the cookie is refused.
 */
import { fileURLToPath } from "node:url";
import { KVService } from "../../gen/kv/v1/kv_pb.js";
import { createPluginHost } from "../../src/host/create.js";
import { createLauncher } from "../../src/launcher/index.js";
import { createLogger } from "../../src/log/logger.js";
import { EXAMPLE_COOKIE } from "../cookie.js";
import { createLogCapability } from "../logger-capability/log-service.js";
import { prettyDestination } from "./pretty.js";
import { strangerClaims } from "./stranger.js";

const logger = createLogger({ name: "host", destination: prettyDestination() });
const host = createPluginHost({
  magicCookie: EXAMPLE_COOKIE,
  logger,
  requireLaunchSecret: true,
  rateLimit: { perCaller: { points: 20, durationSec: 1 } },
  capabilities: [createLogCapability(logger)],
  auditLog: { destination: (record) => logger.info({ audit: record }, `audit ${record.event}`) },
});
const server = await host.listen({ port: Number(process.env["PLUGBOARD_PORT"] ?? 0) });
const launcher = createLauncher({ host, hostUrl: server.url, logger });

const script = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const tsx = (file: string) => ({ command: process.execPath, args: ["--import", "tsx", file] });
const plugins = [
  { name: "kv-provider", ...tsx(script("../kv-provider/main.ts")), provides: [KVService.typeName], env: { KV_PROVIDER_NAME: "kv-provider" } },
  { name: "consumer", ...tsx(script("./consumer.ts")), requires: [KVService.typeName], restart: { policy: "never" as const } },
];

let exitCode = 0;
try {
  await launcher.startAll(plugins);
  // Names are proven, never claimed: knowing the cookie, a stranger still cannot become kv-provider.
  await strangerClaims(server.url, "kv-provider").then((reason) => logger.info({}, `a stranger claiming kv-provider is refused: ${reason}`));
  logger.info({}, "all plugins started; waiting for the consumer to finish its tour");
  while (launcher.list().some((p) => p.name === "consumer" && (p.state === "ready" || p.state === "starting"))) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const consumer = launcher.list().find((p) => p.name === "consumer");
  logger.info({ state: consumer?.state }, "consumer finished");
} catch (e) {
  logger.error({ reason: String(e) }, "demo failed");
  exitCode = 1;
} finally {
  await launcher.stopAll();
  await host.close();
  logger.info({}, "host stopped; bye");
}
// Exit once the last line is flushed, whether stdout is a terminal or a pipe.
process.stdout.write("", () => process.exit(exitCode));
