import { createHash } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore } from "../../src/redis.js";
import { createKeyLayout } from "../../src/store/redis-keys.js";
import { REMOVE_RUNTIME } from "../../src/store/redis-scripts.js";
import { findRedisServer, useRedisServer } from "../helpers/redis.js";
import { startTestHost, type TestHost } from "../helpers/host.js";
import { bearer } from "../helpers/transports.js";

/**
 * On Redis a revocation is a sequence of single-slot steps (the runtime's bucket, then its credentials'
 * buckets: docs/redis-store.md, "Layout"). A host that dies after the first step leaves the token's
 * credential key in Redis: the token must be refused anyway, on every call, because a credential is
 * only accepted while its runtime is live.
 */
describe.skipIf(findRedisServer() === undefined)("a revocation cut short after its first step", () => {
  const redis = useRedisServer();
  const keyPrefix = "partial-revoke:";
  let t: TestHost;
  let admin: Redis;
  beforeAll(async () => {
    t = await startTestHost({ store: await createRedisStore({ url: redis().url, keyPrefix }) });
    admin = new Redis(redis().url);
  });
  afterAll(async () => {
    await admin?.quit();
    await t?.close();
  });

  it("refuses the token although its credential key is still there", async () => {
    const rt = await t.handshake({ pluginName: "half-revoked" });
    const { lifecycle } = t.clients("grpc");
    await lifecycle.reportHealth({ state: 1 }, bearer(rt.token)); // works before
    const layout = createKeyLayout(keyPrefix);
    const digest = createHash("sha256").update(rt.token).digest("hex");
    const credentialKey = layout.credential(digest).cred;
    expect(await admin.exists(credentialKey)).toBe(1);

    // Step 1 of removeRuntime only, as a host that dies right after it leaves things.
    const keys = layout.runtimeKeyList(layout.runtime(rt.runtimeId));
    const [removed] = (await admin.eval(REMOVE_RUNTIME, keys.length, ...keys, rt.runtimeId, "revoked", "test", 100, "")) as [number];
    expect(removed).toBe(1);
    expect(await admin.exists(credentialKey)).toBe(1); // the credential was not deleted

    for (let i = 0; i < 3; i++) {
      const code = await lifecycle.reportHealth({ state: 1 }, bearer(rt.token)).then(
        () => "ok",
        (e: unknown) => ConnectError.from(e).code,
      );
      expect(code).toBe(Code.Unauthenticated);
    }
  });
});
