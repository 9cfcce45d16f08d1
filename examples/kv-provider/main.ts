/**
 * KV provider plugin. Launched by a host it proves its name with the launch secret the host gives it;
 * started by hand it needs an enrolment token for its name, minted by an operator:
 * `PLUGBOARD_ENROLMENT_TOKEN=$(plugboard enrol kv-provider --host … --cert admin.pem --key admin-key.pem)
 *  PLUGBOARD_HOST_URL=http://127.0.0.1:7000 tsx examples/kv-provider/main.ts`.
 * Prints `ready <runtimeId> <url>` on stdout once registered; logs go to stderr.
 */
import { pino } from "pino";
import { KVService } from "../../gen/kv/v1/kv_pb.js";
import { createLogger } from "../../src/log/logger.js";
import { provide, runPlugin } from "../../src/sdk/index.js";
import { EXAMPLE_COOKIE } from "../cookie.js";
import { createKvService } from "./kv-service.js";

const name = process.env["KV_PROVIDER_NAME"] ?? "kv-provider";
// runPlugin: a plugin that cannot start says why in one line on stderr and exits non-zero.
const plugin = await runPlugin({
  name,
  version: "1.0.0",
  magicCookie: EXAMPLE_COOKIE,
  provides: [provide(KVService, createKvService(name), { version: "1.0.0" })],
  logger: createLogger({ name, destination: pino.destination(2) }),
});
console.log(`ready ${plugin.runtimeId} ${plugin.url}`);
