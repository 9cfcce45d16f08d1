/**
 * Two `plugboard host` processes started from the same config with `store: redis` and
 * PLUGBOARD_REDIS_URL: that one setting shares state and rate-limit budgets between them.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import type { Plugin } from "../../../src/sdk/index.js";
import { COOKIE } from "../../helpers/host.js";
import { findRedisServer, startRedis, type RedisServerHandle } from "../../helpers/redis.js";
import { bearer } from "../../helpers/transports.js";
import { kvProvider } from "../sdk/harness.js";
import { spawnCliHost, type HostProcess } from "./harness.js";

const haveRedis = findRedisServer() !== undefined;
const POINTS = 3;

describe.skipIf(!haveRedis)("plugboard host ×2 with store: redis", () => {
  let redis: RedisServerHandle;
  let dir: string;
  let hosts: HostProcess[] = [];
  let provider: Plugin;

  beforeAll(async () => {
    redis = await startRedis();
    dir = mkdtempSync(join(tmpdir(), "plugboard-cli-hosts-"));
    const config = join(dir, "host.yaml");
    writeFileSync(
      config,
      [
        "listen: { hostname: 127.0.0.1, port: 0 }",
        `magicCookie: { key: ${COOKIE.key}, value: ${COOKIE.value} }`,
        "store: redis",
        `rateLimit: { perCaller: { points: ${POINTS}, durationSec: 600 } }`,
      ].join("\n"),
    );
    hosts = await Promise.all(["cli-a", "cli-b"].map((name) => spawnCliHost(name, config, { PLUGBOARD_REDIS_URL: redis.url })));
    provider = kvProvider(hosts[0]!.url, {}, { enrolmentToken: await hosts[0]!.enrol("kv-provider") });
    await provider.start();
  }, 60_000);

  afterAll(async () => {
    await provider?.stop().catch(() => undefined);
    await Promise.all(hosts.map((h) => h.stop()));
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it("shares runtimes and the per-caller budget", async () => {
    const [a, b] = hosts as [HostProcess, HostProcess];
    const rt = await b.handshakeAs({ pluginName: "consumer", requires: [{ type: KVService.typeName, versionRange: "*" }] });
    const found = await a.registry.discover({ serviceType: KVService.typeName }, bearer(rt.token));
    expect(found.providers.map((p) => p.runtimeId)).toEqual([provider.runtimeId]);
    const codes: (Code | "ok")[] = [];
    for (let i = 0; i < POINTS + 1; i++) {
      const host = i % 2 === 0 ? a : b;
      codes.push(await host.kv.get({ key: "k" }, bearer(rt.token)).then(() => "ok" as const, (e: unknown) => ConnectError.from(e).code));
    }
    expect(codes).toEqual([...Array<"ok">(POINTS).fill("ok"), Code.ResourceExhausted]);
  });
});
