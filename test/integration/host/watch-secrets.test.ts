/**
 * SecretsService.WatchSecrets on a real host, over Connect and gRPC: the first message holds every
 * readable secret; a value change without a version (a digest tells) arrives once; a secret the
 * policy stops allowing is removed; each version handed out is audited by name and version, never
 * by value; what the caller did not declare is refused.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { SecretsService, type WatchSecretsResponse } from "../../../gen/plugboard/v1/secrets_pb.js";
import type { AuditEvent } from "../../../src/audit/audit.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { bearer, createTransports } from "../../helpers/transports.js";
import { createCountingProvider } from "../../unit/secrets/fake-provider.js";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

let t: TestHost | undefined;
let transports: ReturnType<typeof createTransports> | undefined;
afterEach(async () => {
  transports?.close();
  await t?.close();
  t = undefined;
});

describe.each(["connect", "grpc"] as const)("WatchSecrets over %s", (protocol) => {
  it("streams the current state, then changes and removals; audits versions, never values", async () => {
    const provider = createCountingProvider({ "db/password": "pw-1", "api/key": "key-1" });
    const allowed = new Set(["db/password", "api/key"]);
    const audits: AuditEvent[] = [];
    t = await startTestHost({
      secrets: { provider, policy: (_plugin, name) => allowed.has(name), watch: { refreshIntervalMs: 50, jitter: 0 } },
      audit: (e) => audits.push(e),
    });
    transports = createTransports(t.url);
    const secrets = createClient(SecretsService, transports.make(protocol));
    const rt = await t.handshake({ pluginName: "app", secrets: [{ name: "db/password" }, { name: "api/key" }] }, protocol);
    const controller = new AbortController();
    const received: WatchSecretsResponse[] = [];
    const stream = (async () => {
      for await (const m of secrets.watchSecrets({}, { ...bearer(rt.token), signal: controller.signal })) received.push(m);
    })().catch((e: unknown) => ConnectError.from(e));
    try {
      await expect.poll(() => received.length, { timeout: 10_000 }).toBe(1);
      expect(received[0]!.initial).toBe(true);
      expect(received[0]!.secrets.map((s) => [s.name, text(s.value), s.stale]).sort()).toEqual([
        ["api/key", "key-1", false],
        ["db/password", "pw-1", false],
      ]);

      provider.values.set("db/password", "pw-2"); // no versions in this backend: the value's digest tells
      await expect.poll(() => received.length, { timeout: 10_000 }).toBe(2);
      expect(received[1]!.secrets.map((s) => [s.name, text(s.value)])).toEqual([["db/password", "pw-2"]]);
      expect(received[1]!.initial).toBe(false);

      allowed.delete("api/key");
      await expect.poll(() => received.length, { timeout: 10_000 }).toBe(3);
      expect(received[2]!.removed).toEqual(["api/key"]);
      expect(received[2]!.secrets).toEqual([]);
      // Nothing more while nothing changes.
      const calls = provider.totalCalls();
      await expect.poll(() => provider.totalCalls(), { timeout: 10_000 }).toBeGreaterThan(calls + 2);
      expect(received).toHaveLength(3);
    } finally {
      controller.abort();
      await stream;
    }
    const watchAudits = audits.filter((a) => a.event === "secret.read");
    expect(watchAudits.map((a) => a.target)).toEqual(expect.arrayContaining(["db/password@,api/key@", "db/password@"]));
    expect(JSON.stringify(audits)).not.toMatch(/pw-1|pw-2|key-1/);
  });

  it("refuses names the caller did not declare", async () => {
    t = await startTestHost({ secrets: { provider: createCountingProvider({ "db/password": "pw" }) } });
    transports = createTransports(t.url);
    const secrets = createClient(SecretsService, transports.make(protocol));
    const rt = await t.handshake({ pluginName: "app", secrets: [{ name: "api/key", optional: true }] }, protocol);
    const err = await (async () => {
      for await (const _ of secrets.watchSecrets({ names: ["db/password"] }, bearer(rt.token))) void _;
    })().catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.PermissionDenied);
  });
});
