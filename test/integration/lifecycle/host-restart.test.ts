/**
 * Issue 20, case 2: a host on the Redis store is killed -9 and restarted. The plugins it launched
 * died with it; the restarted host removes their runtimes (launch records) before it launches
 * anything, so routed calls do not go to them.
 */
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { createRedisStore } from "../../../src/store/redis.js";
import { COOKIE, startTestHost } from "../../helpers/host.js";
import { exitOf, killGroup, spawnGroup } from "../../helpers/processes.js";
import { findRedisServer, startRedis } from "../../helpers/redis.js";
import { kvConsumer } from "../sdk/harness.js";
import { HAND_RUN, startProvider, throughRecovery } from "./lease-harness.js";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const HOST = fileURLToPath(new URL("../../fixtures/lifecycle/redis-host.ts", import.meta.url));

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  closers.length = 0;
});

function spawnHost(redisUrl: string, keyPrefix: string) {
  const child = spawnGroup(process.execPath, ["--import", "tsx", HOST], {
    cwd: REPO_ROOT,
    env: { ...process.env, REDIS_URL: redisUrl, KEY_PREFIX: keyPrefix, PLUGBOARD_COOKIE_KEY: COOKIE.key, PLUGBOARD_COOKIE_VALUE: COOKIE.value },
    stdio: ["ignore", "pipe", "inherit"],
  });
  closers.push(() => killGroup(child));
  const lines = createInterface({ input: child.stdout! });
  const line = (accept: (l: string) => boolean) => {
    const seen = new Promise<string>((resolve, reject) => {
      lines.on("line", (l) => accept(l) && resolve(l));
      child.once("exit", () => reject(new Error("host exited")));
    });
    seen.catch(() => undefined); // a line nobody awaits must not fail the run when the host is killed
    return seen;
  };
  return { child, url: line((l) => l.startsWith("HOST_URL ")).then((l) => l.slice("HOST_URL ".length)), allReady: line((l) => l === "ALL_READY") };
}

it.skipIf(!findRedisServer())("a host killed -9 and restarted on Redis does not route to the plugins that died with it", async () => {
  const redis = await startRedis();
  closers.push(() => redis.stop());
  const keyPrefix = "pb-restart:";
  // A second host and a provider on it run throughout: the live target of routed calls.
  const stable = await startTestHost({ ...HAND_RUN, store: await createRedisStore({ url: redis.url, keyPrefix }) });
  closers.push(() => stable.close());
  const live = await startProvider(stable.url, "kv-live");
  closers.push(() => killGroup(live.child));

  const first = spawnHost(redis.url, keyPrefix);
  await first.allReady;
  process.kill(first.child.pid!, "SIGKILL"); // the host alone; its plugins' watchdogs take them down
  await exitOf(first.child);

  const second = spawnHost(redis.url, keyPrefix);
  const url = await second.url;
  const consumer = kvConsumer(url);
  await consumer.start();
  closers.push(() => consumer.stop());
  const { failures, settled } = await throughRecovery(consumer.client(KVService));
  console.log(`case 2: ${failures.length} routed calls failed after the restarted host was up, before the first success; ${settled.filter((r) => !r.ok).length} of ${settled.length} after it`);
  expect(settled.filter((r) => !r.ok)).toEqual([]);
}, 90_000);
