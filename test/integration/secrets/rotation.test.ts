/**
 * Secrets that rotate into running plugins, end to end: a real host serves SecretsService from
 * Vault (loopback stand-in speaking KV v2), AWS Secrets Manager (loopback stand-in) and a file
 * mount, chained; a real SDK plugin declares one secret of each and serves calls that use them;
 * a consumer keeps calling it while each secret is rotated at its source. The plugin sees every
 * new version within the refresh interval, keeps the replaced one for its grace period, and not
 * one call fails — no restart, no re-handshake.
 */
import { mkdtempSync, rmSync, writeFileSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GetResponseSchema, KVService } from "../../../gen/kv/v1/kv_pb.js";
import {
  createChainSecretProvider,
  createFileSecretProvider,
  type SecretProvider,
} from "../../../src/secrets/index.js";
import { createAwsSecretProvider } from "../../../src/secrets-aws.js";
import { createVaultSecretProvider } from "../../../src/secrets-vault.js";
import { createPlugin, provide, requireService, type Plugin, type SecretChange } from "../../../src/sdk/index.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { enrolled, pluginOptions, text } from "../sdk/harness.js";
import { startFakeSecretsManager, type FakeSecretsManager } from "./fake-aws-sm.js";
import { startFakeVault, type FakeVault } from "./fake-vault.js";

const VAULT = "app/signing";
const AWS = "aws-api-key";
const FILE = "file-key";
const REFRESH_MS = 150;

describe("secrets rotate into a running plugin", () => {
  let vault: FakeVault;
  let sm: FakeSecretsManager;
  let dir: string;
  let provider: SecretProvider;
  let t: TestHost;
  let plugin: Plugin;
  let consumer: Plugin;
  const changes: SecretChange[] = [];
  const served: string[] = [];

  beforeAll(async () => {
    vault = await startFakeVault();
    vault.addToken("hvs.host");
    vault.write("app/signing", { value: "vault-v1" });
    sm = await startFakeSecretsManager();
    sm.put(AWS, "aws-v1");
    dir = mkdtempSync(join(tmpdir(), "pb-rotation-"));
    writeFileSync(join(dir, FILE), "file-v1");
    provider = createChainSecretProvider([
      createVaultSecretProvider({ address: vault.url, token: "hvs.host", renewToken: false }),
      createAwsSecretProvider({ region: "us-east-1", endpoint: sm.url, credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "test" }, maxAttempts: 1 }),
      createFileSecretProvider({ path: dir }),
    ]);
    t = await startTestHost({ secrets: { provider, watch: { refreshIntervalMs: REFRESH_MS, jitter: 0.2 } } });
    plugin = createPlugin(
      pluginOptions(t.url, {
        ...(await enrolled(t, "signer")),
        name: "signer",
        secrets: [{ name: VAULT }, { name: AWS }, { name: FILE }],
        secretGraceMs: 60_000,
        provides: [
          provide(KVService, {
            // Every call answers with the secret values the plugin holds right now.
            async get() {
              const values = await Promise.all([VAULT, AWS, FILE].map(async (n) => text(await plugin.secret(n))));
              served.push(values.join(","));
              return create(GetResponseSchema, { found: true, value: new TextEncoder().encode(values.join(",")) });
            },
          }),
        ],
      }),
    );
    for (const name of [VAULT, AWS, FILE]) plugin.onSecretChange(name, (c) => changes.push(c));
    await plugin.start();
    consumer = createPlugin(pluginOptions(t.url, { ...(await enrolled(t, "consumer")), name: "consumer", requires: [requireService(KVService)] }));
    await consumer.start();
  });
  afterAll(async () => {
    await consumer?.stop();
    await plugin?.stop();
    await t?.close();
    await provider?.close?.();
    await vault?.close();
    await sm?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("sees each new version while serving, keeps the previous one, and no call fails", async () => {
    const kv = consumer.client(KVService);
    const answer = async () => text((await kv.get({ key: "k" })).value);
    await expect.poll(answer, { timeout: 10_000 }).toBe("vault-v1,aws-v1,file-v1");
    const runtimeBefore = plugin.runtimeId;

    // Calls keep flowing the whole time; any failure fails the test.
    let calling = true;
    let calls = 0;
    const failures: unknown[] = [];
    const load = (async () => {
      while (calling) {
        await kv.get({ key: "k" }).then(() => calls++, (e: unknown) => failures.push(e));
      }
    })();

    vault.write("app/signing", { value: "vault-v2" });
    sm.put(AWS, "aws-v2");
    writeFileSync(join(dir, FILE), "file-v2");
    const later = new Date(Date.now() + 5_000); // a distinct mtime, whatever the file system's resolution
    utimesSync(join(dir, FILE), later, later);

    await expect.poll(answer, { timeout: 15_000 }).toBe("vault-v2,aws-v2,file-v2");
    calling = false;
    await load;

    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThan(0);
    expect(plugin.runtimeId).toBe(runtimeBefore); // no restart, no new handshake
    const byName = (name: string) => changes.filter((c) => c.current.name === name && c.previous);
    expect(byName(VAULT).map((c) => [text(c.previous!.value), text(c.current.value), c.current.version])).toEqual([["vault-v1", "vault-v2", "2"]]);
    expect(byName(AWS).map((c) => [text(c.previous!.value), text(c.current.value)])).toEqual([["aws-v1", "aws-v2"]]);
    expect(byName(FILE).map((c) => [text(c.previous!.value), text(c.current.value)])).toEqual([["file-v1", "file-v2"]]);
    for (const [name, old] of [[VAULT, "vault-v1"], [AWS, "aws-v1"], [FILE, "file-v1"]] as const)
      expect(text(plugin.previousSecret(name)!)).toBe(old);
  });

  it("an outage keeps the last good value, flagged stale, and recovery is announced", async () => {
    vault.mode = "down";
    await expect.poll(() => changes.some((c) => c.current.name === VAULT && c.current.stale), { timeout: 10_000 }).toBe(true);
    expect(text(await plugin.secret(VAULT))).toBe("vault-v2"); // still served
    vault.mode = "ok";
    // (Through the chain, the other secrets may go stale and fresh again as well: Vault is asked first.)
    await expect.poll(() => changes.filter((c) => c.current.name === VAULT).at(-1)?.current, { timeout: 10_000 }).toMatchObject({ stale: false, version: "2" });
    expect(text(plugin.previousSecret(VAULT)!)).toBe("vault-v1"); // a stale flag is not a rotation
  });
});
