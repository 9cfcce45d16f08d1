import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { RegisterRequestSchema } from "../../../gen/plugboard/v1/registry_pb.js";
import { create } from "@bufbuild/protobuf";
import { bearer, PROTOCOLS } from "../../helpers/transports.js";
import { handshakeRequest, startTestHost, type TestHost } from "../../helpers/host.js";

async function codeOf(promise: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    return ConnectError.from(error).code;
  }
}

let t: TestHost;
afterEach(async () => t?.close());

describe.each(["connect", "grpc"] as const)("handshake over %s", (protocol) => {
  it("admits a plugin: runtime id, prefixed token, expiry and the highest common version", async () => {
    t = await startTestHost({ appProtocolVersions: ["1.2.0", "1.10.0", "2.0.0"] });
    const before = Date.now();
    const res = await t.clients(protocol).handshake.handshake(handshakeRequest({ appProtocolRanges: ["^1.0.0"], enrolmentToken: await t.enrol() }));
    expect(res.runtimeId).toMatch(/^rt_[A-Za-z0-9_-]{22}$/);
    expect(res.runtimeToken).toMatch(/^pbrt_[A-Za-z0-9_-]{43}$/);
    // semver, not string order: 1.10.0 > 1.2.0.
    expect(res.appProtocolVersion).toBe("1.10.0");
    expect(res.coreProtocolVersion).toBe(1);
    expect(res.callerSigningKey.length).toBe(32);
    const expiresMs = Number(res.tokenExpiresAt!.seconds) * 1000;
    expect(expiresMs).toBeGreaterThan(before + 59 * 60_000);
    expect(expiresMs).toBeLessThan(before + 61 * 60_000);
  });

  it("gives every runtime a different id and token", async () => {
    t = await startTestHost();
    const a = await t.handshake({}, protocol);
    const b = await t.handshake({}, protocol);
    expect(a.runtimeId).not.toBe(b.runtimeId);
    expect(a.token).not.toBe(b.token);
  });

  it.each([
    ["bad cookie value", { magicCookieValue: "nope" }, Code.FailedPrecondition],
    ["bad cookie key", { magicCookieKey: "OTHER" }, Code.FailedPrecondition],
    ["unsupported core protocol", { coreProtocolVersion: 2 }, Code.FailedPrecondition],
    ["no common app version", { appProtocolRanges: ["^3.0.0"] }, Code.FailedPrecondition],
    ["malformed range", { appProtocolRanges: ["not a range"] }, Code.InvalidArgument],
    ["bad plugin name", { pluginName: "Bad Name!" }, Code.InvalidArgument],
    ["bad plugin version", { pluginVersion: "1.0" }, Code.InvalidArgument],
    ["provides without base url", { provides: [{ type: "kv.v1.KVService", version: "1.0.0" }] }, Code.InvalidArgument],
    ["base url off loopback", { baseUrl: "http://169.254.169.254", provides: [] }, Code.InvalidArgument],
    ["base url with credentials", { baseUrl: "http://u:p@127.0.0.1:1" }, Code.InvalidArgument],
    ["bad service type", { baseUrl: "http://127.0.0.1:1", provides: [{ type: "nodots", version: "1.0.0" }] }, Code.InvalidArgument],
    ["unknown capability", { capabilities: ["hostlog.v1.LogService"] }, Code.InvalidArgument],
    ["unknown launch secret", { launchSecret: "pbls_guess" }, Code.Unauthenticated],
  ])("refuses %s", async (_name, init, code) => {
    t = await startTestHost();
    const err = await t.handshake(init, protocol).catch((e) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(code);
  });

  it("accepts a launch secret once, for its plugin only", async () => {
    t = await startTestHost({ requireLaunchSecret: true });
    const client = t.clients(protocol).handshake;
    expect(await codeOf(client.handshake(handshakeRequest()))).toBe(Code.Unauthenticated);
    const secret = t.host.issueLaunchSecret("kv");
    expect(await codeOf(client.handshake(handshakeRequest({ pluginName: "other", launchSecret: secret })))).toBe(
      Code.PermissionDenied,
    );
    const fresh = t.host.issueLaunchSecret("kv");
    expect(await codeOf(client.handshake(handshakeRequest({ launchSecret: fresh })))).toBe("ok");
    expect(await codeOf(client.handshake(handshakeRequest({ launchSecret: fresh })))).toBe(Code.Unauthenticated);
  });

  it("never echoes a secret-looking value in a refusal", async () => {
    t = await startTestHost();
    const secret = "pbls_" + "s".repeat(40);
    const err = ConnectError.from(
      await t.clients(protocol).handshake.handshake(handshakeRequest({ launchSecret: secret, magicCookieValue: "x" + secret })).catch((e) => e),
    );
    expect(err.rawMessage).not.toContain(secret);
  });

  it("refreshes: new token works, old one is refused, runtime id and registrations are kept", async () => {
    t = await startTestHost();
    const { handshake, registry } = t.clients(protocol);
    const admitted = await t.handshake({ baseUrl: "http://127.0.0.1:9", provides: [{ type: "kv.v1.KVService", version: "1.0.0" }] }, protocol);
    await registry.register(create(RegisterRequestSchema, { serviceType: "kv.v1.KVService" }), bearer(admitted.token));
    const refreshed = await handshake.refreshToken({}, bearer(admitted.token));
    expect(refreshed.runtimeToken).not.toBe(admitted.token);
    expect(await codeOf(registry.discover({ serviceType: "kv.v1.KVService" }, bearer(admitted.token)))).toBe(Code.Unauthenticated);
    const found = await registry.discover({ serviceType: "kv.v1.KVService" }, bearer(refreshed.runtimeToken));
    expect(found.providers.map((p) => p.runtimeId)).toEqual([admitted.runtimeId]);
  });

  it("expires tokens; an expired token is Unauthenticated and its runtime is swept with its registrations", async () => {
    let clock = Date.now();
    t = await startTestHost({ runtimeTokenTtlMs: 60_000, sweepIntervalMs: 100, now: () => clock });
    const { registry } = t.clients(protocol);
    const provider = await t.handshake({ baseUrl: "http://127.0.0.1:9", provides: [{ type: "kv.v1.KVService", version: "1.0.0" }] }, protocol);
    await registry.register({ serviceType: "kv.v1.KVService" }, bearer(provider.token));
    expect(await t.host.store.listRegistrations()).toHaveLength(1);
    clock += 60_001;
    expect(await codeOf(registry.discover({ serviceType: "kv.v1.KVService" }, bearer(provider.token)))).toBe(Code.Unauthenticated);
    await expect.poll(() => t.host.store.listRegistrations(), { timeout: 10_000 }).toEqual([]); // the next sweep
  });

  it("revokes: the runtime's token stops working and its registrations go", async () => {
    t = await startTestHost();
    const { handshake, registry } = t.clients(protocol);
    const a = await t.handshake({ baseUrl: "http://127.0.0.1:9", provides: [{ type: "kv.v1.KVService", version: "1.0.0" }] }, protocol);
    const b = await t.handshake({ pluginName: "other" }, protocol);
    await registry.register({ serviceType: "kv.v1.KVService" }, bearer(a.token));
    // Another plugin may not revoke it.
    expect(await codeOf(handshake.revoke({ runtimeId: a.runtimeId }, bearer(b.token)))).toBe(Code.PermissionDenied);
    await handshake.revoke({}, bearer(a.token));
    expect(await codeOf(registry.discover({ serviceType: "kv.v1.KVService" }, bearer(a.token)))).toBe(Code.Unauthenticated);
    const left = await registry.discover({ serviceType: "kv.v1.KVService" }, bearer(b.token));
    expect(left.providers).toEqual([]);
  });
});

it("negotiates over all three protocols alike", async () => {
  t = await startTestHost();
  for (const protocol of PROTOCOLS) {
    const res = await t.clients(protocol).handshake.handshake(handshakeRequest({ enrolmentToken: await t.enrol() }));
    expect(res.appProtocolVersion).toBe("1.0.0");
  }
});

it("survives a failing random source: the call fails with Internal, the host keeps serving", async () => {
  let fail = false;
  const { randomBytes } = await import("node:crypto");
  t = await startTestHost({
    random: (n) => {
      if (fail) throw new Error("entropy pool exploded");
      return randomBytes(n);
    },
  });
  const enrolmentToken = (await t.host.issueEnrolmentToken("kv", { uses: 2 })).token;
  fail = true;
  expect(await codeOf(t.clients("connect").handshake.handshake(handshakeRequest({ enrolmentToken })))).toBe(Code.Internal);
  fail = false;
  expect(await codeOf(t.clients("connect").handshake.handshake(handshakeRequest({ enrolmentToken })))).toBe("ok");
});
