import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore } from "../../src/redis.js";
import { findRedisServer, useRedisServer } from "../helpers/redis.js";
import { startTestHost, type TestHost } from "../helpers/host.js";
import { bearer } from "../helpers/transports.js";

/**
 * Issue 12, hole 4: RefreshToken must consume the old token and issue the new one in one atomic
 * step on every store. Against Redis, 20 concurrent refreshes of one token gave 20 live tokens.
 * The store-level proof for both stores is in test/store/conformance.ts ("rotateCredential").
 */
const CONCURRENT = 20;

describe.skipIf(findRedisServer() === undefined)("RefreshToken through the host on a Redis store", () => {
  const redis = useRedisServer();
  let t: TestHost;
  beforeAll(async () => {
    t = await startTestHost({ store: await createRedisStore({ url: redis().url, keyPrefix: "refresh-atomic:" }) });
  });
  afterAll(async () => t?.close());

  it(`${CONCURRENT} concurrent refreshes of one token: exactly one succeeds and one token is live`, async () => {
    const rt = await t.handshake({ pluginName: "refresher" });
    const { handshake, lifecycle } = t.clients("grpc");
    const results = await Promise.allSettled(
      Array.from({ length: CONCURRENT }, () => handshake.refreshToken({}, bearer(rt.token))),
    );
    const ok = results.filter((r) => r.status === "fulfilled");
    const codes = results.filter((r) => r.status === "rejected").map((r) => ConnectError.from(r.reason).code);
    expect(ok).toHaveLength(1);
    expect(codes).toEqual(Array(CONCURRENT - 1).fill(Code.Unauthenticated));

    // Every token handed out is tried: only the one from the successful refresh works.
    const issued = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.runtimeToken] : []));
    const live = [];
    for (const token of [rt.token, ...issued]) {
      const answer = await lifecycle.reportHealth({ state: 1 }, bearer(token)).then(
        () => true,
        () => false,
      );
      if (answer) live.push(token);
    }
    expect(live).toEqual(issued);
  });
});
