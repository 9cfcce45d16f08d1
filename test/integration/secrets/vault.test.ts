import { Code } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSecretCache } from "../../../src/secrets/index.js";
import { createVaultSecretProvider, type VaultSecretProvider } from "../../../src/secrets-vault.js";
import { startFakeVault, type FakeVault } from "./fake-vault.js";
import { failure, text } from "../../helpers/secrets.js";

describe("vault KV v2 provider (loopback Vault)", () => {
  let vault: FakeVault;
  let provider: VaultSecretProvider;

  beforeEach(async () => {
    vault = await startFakeVault();
    vault.addToken("hvs.test-token");
    provider = createVaultSecretProvider({ address: vault.url, token: "hvs.test-token", namespace: "team-a", renewToken: false });
  });
  afterEach(async () => {
    await provider.close?.();
    await vault.close();
  });

  it("reads the current version, a field, and sends the namespace header", async () => {
    vault.write("app/db", { password: "pw-one", user: "app" });
    vault.write("app/db", { password: "pw-two", user: "app" });
    vault.write("app/token", { value: "tok-single" });

    const field = await provider.get("app/db#password");
    expect(text(field.value)).toBe("pw-two");
    expect(field.version).toBe("2");
    expect(vault.lastNamespace).toBe("team-a");

    expect(JSON.parse(text((await provider.get("app/db")).value))).toEqual({ password: "pw-two", user: "app" });
    expect(text((await provider.get("app/token")).value)).toBe("tok-single");
  });

  it("reads an older version by number and lists versions from metadata", async () => {
    vault.write("app/db", { password: "pw-one" });
    vault.write("app/db", { password: "pw-two" });
    const old = await provider.get("app/db#password", { version: "1" });
    expect(text(old.value)).toBe("pw-one");
    expect(old.version).toBe("1");

    vault.deleteVersion("app/db", 1);
    const info = await provider.versions("app/db");
    expect(info.currentVersion).toBe(2);
    expect(info.versions.map((v) => [v.version, v.deleted])).toEqual([[1, true], [2, false]]);
  });

  it("answers NotFound for deleted and destroyed versions (404 with metadata) and unknown paths", async () => {
    vault.write("app/db", { password: "pw-one" });
    vault.write("app/db", { password: "pw-two" });
    vault.write("app/db", { password: "pw-three" });
    vault.deleteVersion("app/db", 1);
    vault.destroyVersion("app/db", 2);

    const deleted = await failure(provider.get("app/db#password", { version: "1" }));
    expect(deleted.code).toBe(Code.NotFound);
    expect(deleted.rawMessage).toContain("deleted");
    const destroyed = await failure(provider.get("app/db#password", { version: "2" }));
    expect(destroyed.code).toBe(Code.NotFound);
    expect(destroyed.rawMessage).toContain("destroyed");
    expect((await failure(provider.get("app/missing"))).code).toBe(Code.NotFound);
    expect((await failure(provider.get("app/db#nofield"))).code).toBe(Code.NotFound);
    expect((await failure(provider.get("app/db", { version: "x" }))).code).toBe(Code.InvalidArgument);
    expect((await failure(provider.get("app/../sys"))).code).toBe(Code.InvalidArgument);
  });

  it("maps 403 to PermissionDenied, 429 and 503 to Unavailable", async () => {
    vault.write("app/db", { password: "pw" });
    vault.deny("app/db");
    const denied = await failure(provider.get("app/db#password"));
    expect(denied.code).toBe(Code.PermissionDenied);
    expect(denied.secretName).toBe("app/db#password");

    vault.mode = "throttle";
    expect((await failure(provider.get("app/db"))).code).toBe(Code.Unavailable);
    vault.mode = "down";
    expect((await failure(provider.get("app/db"))).code).toBe(Code.Unavailable);
  });

  it("a bad token is PermissionDenied", async () => {
    const wrong = createVaultSecretProvider({ address: vault.url, token: "hvs.wrong", renewToken: false });
    vault.write("x", { value: "v" });
    expect((await failure(wrong.get("x"))).code).toBe(Code.PermissionDenied);
  });

  it("times out a request that gets no answer, and a closed port is Unavailable", async () => {
    vault.mode = "hang";
    const slow = createVaultSecretProvider({ address: vault.url, token: "hvs.test-token", timeoutMs: 200, renewToken: false });
    const error = await failure(slow.get("x"));
    expect(error.code).toBe(Code.Unavailable);
    expect(error.rawMessage).toContain("200 ms"); // its own timeout ended it, not the server

    const closed = createVaultSecretProvider({ address: "http://127.0.0.1:1", token: "t", renewToken: false });
    expect((await failure(closed.get("x"))).code).toBe(Code.Unavailable);
    expect(await closed.health()).toEqual({ ok: false, detail: "vault unreachable" });
  });

  it("lists secret paths recursively and reports health", async () => {
    vault.write("app/db", { a: 1 });
    vault.write("app/nested/key", { a: 1 });
    vault.write("top", { a: 1 });
    expect(await provider.list()).toEqual(["app/db", "app/nested/key", "top"]);
    expect(await provider.health()).toEqual({ ok: true });
    vault.mode = "sealed";
    expect((await provider.health()).ok).toBe(false);
  });

  it("renews a renewable token before its TTL runs out", async () => {
    vault.addToken("hvs.short", { ttlSeconds: 1, renewable: true });
    const renewing = createVaultSecretProvider({ address: vault.url, token: "hvs.short" });
    try {
      vault.write("k", { value: "v" });
      await renewing.get("k");
      // Without renewal the token expires after 1 s and reads would answer 403.
      await new Promise((resolve) => setTimeout(resolve, 2200));
      expect(vault.calls.get("lookup")).toBe(1);
      expect(vault.calls.get("renew") ?? 0).toBeGreaterThanOrEqual(2);
      expect(text((await renewing.get("k")).value)).toBe("v");
    } finally {
      await renewing.close?.();
    }
  });

  it("retries the token lookup after an outage so renewal still starts", async () => {
    vault.addToken("hvs.later", { ttlSeconds: 1, renewable: true });
    const renewing = createVaultSecretProvider({ address: vault.url, token: "hvs.later" });
    try {
      vault.write("k", { value: "v" });
      vault.mode = "down";
      expect((await failure(renewing.get("k"))).code).toBe(Code.Unavailable);
      vault.mode = "ok";
      await renewing.get("k");
      await new Promise((resolve) => setTimeout(resolve, 1200));
      expect(vault.calls.get("renew") ?? 0).toBeGreaterThanOrEqual(1);
      expect(text((await renewing.get("k")).value)).toBe("v");
    } finally {
      await renewing.close?.();
    }
  });

  it("a non-renewable token is never renewed", async () => {
    vault.addToken("hvs.fixed", { ttlSeconds: 1, renewable: false });
    const fixed = createVaultSecretProvider({ address: vault.url, token: "hvs.fixed" });
    vault.write("k", { value: "v" });
    await fixed.get("k");
    await new Promise((resolve) => setTimeout(resolve, 900));
    expect(vault.calls.get("renew")).toBeUndefined();
    await fixed.close?.();
  });

  it("behind the cache: an outage is bridged within the stale window, then fails clearly", async () => {
    vault.write("app/db", { password: "pw-cached" });
    let clock = 1_000_000;
    const cache = createSecretCache(provider, { ttlMs: 1000, staleWindowMs: 5000, errorBackoffMs: 100, now: () => clock });
    expect(text((await cache.get("app/db#password")).value)).toBe("pw-cached");

    vault.mode = "down";
    clock += 2000; // past TTL, inside stale window
    expect(text((await cache.get("app/db#password")).value)).toBe("pw-cached");
    expect(cache.stats().staleServed).toBe(1);

    clock += 10_000; // past TTL + stale window
    const error = await failure(cache.get("app/db#password"));
    expect(error.code).toBe(Code.Unavailable);
    expect(error.rawMessage).toContain("vault unavailable");

    vault.mode = "ok";
    vault.write("app/db", { password: "pw-rotated" });
    clock += 200; // backoff over
    expect(text((await cache.get("app/db#password")).value)).toBe("pw-rotated");
  });
});
