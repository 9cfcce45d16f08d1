/**
 * Two `plugboard host` processes started from one CLI config on a Redis Sentinel group
 * (primary, replica, three sentinels). The primary is killed (SIGKILL) under routed load:
 * calls succeed again after Sentinel's switch, and revocations made just before the kill
 * stay revoked — also one made while the replica lagged, which the host did not acknowledge
 * (Unavailable: the replica never confirmed it) and re-applied on the new primary.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import type { Plugin } from "../../../src/sdk/index.js";
import { COOKIE } from "../../helpers/host.js";
import { findRedisServer } from "../../helpers/redis.js";
import { makeTempDir } from "../../helpers/temp-dirs.js";
import { redisCommand, startSentinelGroup, until, type SentinelGroup } from "../../helpers/redis-topologies.js";
import { bearer } from "../../helpers/transports.js";
import { kvProvider } from "../sdk/harness.js";
import { spawnCliHost, type HostProcess } from "./harness.js";

const haveRedis = findRedisServer() !== undefined;
const KV = KVService.typeName;
const consumer = (name: string) => ({ pluginName: name, requires: [{ type: KV, versionRange: "*" }] });
const codeOf = (p: Promise<unknown>): Promise<Code | "ok"> =>
  p.then(
    () => "ok" as const,
    (e: unknown) => ConnectError.from(e).code,
  );

describe.skipIf(!haveRedis)("plugboard host ×2 on Redis Sentinel: fail-over under load", () => {
  let group: SentinelGroup;
  let dir: string;
  let hosts: HostProcess[] = [];
  let provider: Plugin | undefined;

  beforeAll(async () => {
    group = await startSentinelGroup();
    dir = makeTempDir("plugboard-sentinel-hosts-");
    const config = join(dir, "host.yaml");
    writeFileSync(
      config,
      [
        "listen: { hostname: 127.0.0.1, port: 0 }",
        `magicCookie: { key: ${COOKIE.key}, value: ${COOKIE.value} }`,
        "store:",
        "  redis:",
        `    sentinels: [${group.sentinelAddresses.map((a) => `"${a}"`).join(", ")}]`,
        `    name: ${group.name}`,
        `  durableWrites: { timeoutMs: 500, recentLimit: ${Number(process.env["RECENT_LIMIT"] ?? 1000)} }`,
      ].join("\n"),
    );
    const source = { sentinels: group.sentinelAddresses, name: group.name };
    hosts = await Promise.all(["sentinel-a", "sentinel-b"].map((name) => spawnCliHost(name, config, {}, source)));
    provider = kvProvider(hosts[0]!.url, {}, { heartbeatMs: 300, enrolmentToken: await hosts[0]!.enrol("kv-provider", 5) });
    await provider.start();
  }, 90_000);

  afterAll(async () => {
    await provider?.stop().catch(() => undefined);
    await Promise.all(hosts.map((h) => h.stop()));
    await group?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it("serves again after the switch and keeps revocations, including one made while the replica lagged", async () => {
    const [a, b] = hosts as [HostProcess, HostProcess];
    const caller = await b.handshakeAs(consumer("caller"));
    expect(await codeOf(a.kv.get({ key: "k" }, bearer(caller.token)))).toBe("ok");

    // Load: routed calls through both hosts until the end of the test.
    let loading = true;
    const outcomes = { ok: 0, failed: 0 };
    const load = (async () => {
      for (let i = 0; loading; i++) {
        const host = i % 2 === 0 ? a : b;
        const code = await codeOf(host.kv.get({ key: "k" }, bearer(caller.token)));
        if (code === "ok") outcomes.ok++;
        else {
          outcomes.failed++;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    })();

    try {
      // 1. A revocation with the replica in sync: acknowledged once the replica has it.
      const revokedInSync = await a.handshakeAs(consumer("revoked-in-sync"));
      await b.handshake.revoke({ reason: "test" }, bearer(revokedInSync.token));

      // 2. The replica lags (stopped, its link cut: what the primary writes next never reaches it): the
      //    revocation reaches the primary only, is not confirmed, and answers Unavailable.
      const revokedLagging = await a.handshakeAs(consumer("revoked-lagging"));
      const oldPrimary = await group.currentPrimary();
      group.replica.pause();
      let lagCode: Code | "ok";
      try {
        await redisCommand(group.primary.port, "CLIENT", "KILL", "TYPE", "replica");
        lagCode = await codeOf(b.handshake.revoke({ reason: "test" }, bearer(revokedLagging.token)));
        // 3. The primary dies before the replica caught up.
        await group.primary.kill();
      } finally {
        group.replica.resume();
      }
      expect(lagCode).toBe(Code.Unavailable);

      await until(async () => (await group.currentPrimary()) !== oldPrimary, "Sentinel to promote the replica", 60_000);
      const promoted = await group.currentPrimary();
      expect(promoted).toBe(group.replica.address);

      // Calls succeed again on both hosts (waiting for it, with a generous bound).
      await until(
        async () => (await codeOf(a.kv.get({ key: "k" }, bearer(caller.token)))) === "ok" && (await codeOf(b.kv.get({ key: "k" }, bearer(caller.token)))) === "ok",
        "routed calls to succeed after the fail-over",
        60_000,
      );
      // Host B re-applied the revocations it made on the new primary (it noticed the new run id).
      await until(async () => /re-applied recent revocations/.test(b.logs()), "host B to reconcile", 30_000);

      for (const host of [a, b]) {
        expect(await codeOf(host.kv.get({ key: "k" }, bearer(revokedInSync.token)))).toBe(Code.Unauthenticated);
        expect(await codeOf(host.kv.get({ key: "k" }, bearer(revokedLagging.token)))).toBe(Code.Unauthenticated);
      }
      const before = outcomes.ok;
      await until(async () => outcomes.ok >= before + 20, "load to flow again", 30_000);
    } catch (err) {
      if (process.env["DEBUG_HA"]) {
        console.error(await codeOf(a.kv.get({ key: "k" }, bearer(caller.token))), a.logs().slice(-6000), b.logs().slice(-3000));
      }
      throw err;
    } finally {
      loading = false;
      await load;
    }
    console.info(`sentinel fail-over under load: ${outcomes.ok} routed calls ok, ${outcomes.failed} failed during the switch`);
    expect(a.alive() && b.alive()).toBe(true);
  }, 150_000);
});
