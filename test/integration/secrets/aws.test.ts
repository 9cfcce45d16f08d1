import { Code } from "@connectrpc/connect";
import type { SecretProvider } from "../../../src/secrets/index.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSecretCache } from "../../../src/secrets/index.js";
import { createAwsSecretProvider } from "../../../src/secrets-aws.js";
import { startFakeSecretsManager, type FakeSecretsManager } from "./fake-aws-sm.js";
import { failure, text } from "../../helpers/secrets.js";

const dummyCredentials = { accessKeyId: "AKIDTESTTESTTEST", secretAccessKey: "dummy-secret-access-key" };

describe("AWS Secrets Manager provider (loopback JSON 1.1 server)", () => {
  let sm: FakeSecretsManager;
  let provider: SecretProvider;

  beforeEach(async () => {
    sm = await startFakeSecretsManager();
    provider = createAwsSecretProvider({
      region: "us-east-1",
      endpoint: sm.url,
      credentials: dummyCredentials,
      maxAttempts: 1,
    });
  });
  afterEach(async () => {
    await provider.close?.();
    await sm.close();
  });

  it("reads AWSCURRENT through the real SDK with a SigV4-signed JSON 1.1 request", async () => {
    const id = sm.put("prod/db", "s3cr3t-current");
    const secret = await provider.get("prod/db");
    expect(text(secret.value)).toBe("s3cr3t-current");
    expect(secret.version).toBe(id);
    expect(sm.lastTarget).toBe("secretsmanager.GetSecretValue");
    expect(sm.lastContentType).toBe("application/x-amz-json-1.1");
    expect(sm.lastAuthorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDTESTTESTTEST\/\d{8}\/us-east-1\/secretsmanager\/aws4_request/);
  });

  it("selects versions by stage (AWSPREVIOUS, stage:<label>) and by VersionId", async () => {
    const first = sm.put("prod/db", "value-one");
    const second = sm.put("prod/db", "value-two");
    expect(text((await provider.get("prod/db", { version: "AWSPREVIOUS" })).value)).toBe("value-one");
    expect((await provider.get("prod/db", { version: "AWSCURRENT" })).version).toBe(second);
    expect(text((await provider.get("prod/db", { version: "stage:AWSPREVIOUS" })).value)).toBe("value-one");
    expect(text((await provider.get("prod/db", { version: first })).value)).toBe("value-one");
    expect((await failure(provider.get("prod/db", { version: "no-such-version" }))).code).toBe(Code.NotFound);
  });

  it("returns SecretBinary bytes and picks JSON fields from SecretString", async () => {
    sm.put("bin", new Uint8Array([0, 1, 2, 250, 255]));
    sm.put("json", JSON.stringify({ username: "app", password: "hunter2-json" }));
    expect([...(await provider.get("bin")).value]).toEqual([0, 1, 2, 250, 255]);
    expect(text((await provider.get("json#password")).value)).toBe("hunter2-json");
    expect((await failure(provider.get("json#nope"))).code).toBe(Code.NotFound);
    expect((await failure(provider.get("bin#field"))).code).toBe(Code.NotFound);
  });

  it("maps ResourceNotFound, deletion, AccessDenied, Throttling, 5xx and a dropped connection", async () => {
    sm.put("gone", "x");
    sm.markDeleted("gone");
    sm.put("private", "x");
    sm.deny("private");

    const missing = await failure(provider.get("missing"));
    expect(missing.code).toBe(Code.NotFound);
    expect(missing.secretName).toBe("missing");
    expect((await failure(provider.get("gone"))).code).toBe(Code.NotFound);
    expect((await failure(provider.get("private"))).code).toBe(Code.PermissionDenied);
    sm.mode = "throttle";
    const throttled = await failure(provider.get("private"));
    expect(throttled.code).toBe(Code.Unavailable);
    expect(throttled.rawMessage).toContain("throttled");
    sm.mode = "down";
    expect((await failure(provider.get("x"))).code).toBe(Code.Unavailable);
    sm.mode = "reset";
    expect((await failure(provider.get("x"))).code).toBe(Code.Unavailable);
  });

  it("retries throttling with the SDK's backoff when attempts allow", async () => {
    const retrying = createAwsSecretProvider({ region: "us-east-1", endpoint: sm.url, credentials: dummyCredentials, maxAttempts: 3 });
    try {
      sm.put("k", "after-retry");
      sm.throttleNext = 1;
      expect(text((await retrying.get("k")).value)).toBe("after-retry");
      expect(sm.calls.get("throttled")).toBe(1);
    } finally {
      await retrying.close?.();
    }
  });

  it("lists across pages, with a name prefix stripped", async () => {
    for (let i = 0; i < 130; i++) sm.put(`app/s${String(i).padStart(3, "0")}`, "v");
    sm.put("other/x", "v");
    const scoped = createAwsSecretProvider({ region: "us-east-1", endpoint: sm.url, credentials: dummyCredentials, prefix: "app/" });
    try {
      const names = await scoped.list();
      expect(names).toHaveLength(130);
      expect(names[0]).toBe("s000");
      expect(sm.calls.get("list")).toBe(2);
      sm.put("app/db", "prefixed");
      expect(text((await scoped.get("db")).value)).toBe("prefixed");
      expect(await scoped.health()).toEqual({ ok: true });
    } finally {
      await scoped.close?.();
    }
  });

  it("behind the cache: rotation shows after the TTL, throttling is bridged within the stale window, then fails", async () => {
    sm.put("prod/api", "key-v1");
    let clock = 5_000_000;
    const cache = createSecretCache(provider, { ttlMs: 60_000, staleWindowMs: 120_000, errorBackoffMs: 1000, now: () => clock });
    expect(text((await cache.get("prod/api")).value)).toBe("key-v1");
    sm.put("prod/api", "key-v2");
    expect(text((await cache.get("prod/api")).value)).toBe("key-v1"); // within TTL
    clock += 61_000;
    expect(text((await cache.get("prod/api")).value)).toBe("key-v2"); // rotation picked up, no restart

    sm.mode = "throttle";
    clock += 61_000;
    expect(text((await cache.get("prod/api")).value)).toBe("key-v2");
    clock += 500; // inside backoff: no new backend call
    const callsBefore = sm.calls.get("throttled");
    expect(text((await cache.get("prod/api")).value)).toBe("key-v2");
    expect(sm.calls.get("throttled")).toBe(callsBefore);

    clock += 200_000; // stale window over
    const error = await failure(cache.get("prod/api"));
    expect(error.code).toBe(Code.Unavailable);
    expect(error.secretName).toBe("prod/api");
  });
});
