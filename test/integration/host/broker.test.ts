import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { LogService, WriteResponseSchema } from "../../../gen/hostlog/v1/hostlog_pb.js";
import type { Capability } from "../../../src/host/context.js";
import { HEADER_GRANT } from "../../../src/protocol/constants.js";
import { createTransports } from "../../helpers/transports.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";

const LOG = LogService.typeName;

async function codeOf(promise: Promise<unknown>): Promise<Code | "ok"> {
  return promise.then(
    () => "ok" as const,
    (e) => ConnectError.from(e).code,
  );
}

let t: TestHost;
let transports: ReturnType<typeof createTransports> | undefined;
afterEach(async () => {
  transports?.close();
  await t?.close();
});

describe.each(["connect", "grpc"] as const)("broker over %s", (protocol) => {
  let clock = Date.now();
  async function setup(grantTtlMs = 60_000) {
    clock = Date.now();
    const written: string[] = [];
    const logCapability: Capability<typeof LogService> = {
      service: LogService,
      impl: { write: (req) => (written.push(req.message), create(WriteResponseSchema)) },
    };
    t = await startTestHost({
      grantTtlMs,
      capabilities: [logCapability],
      now: () => clock,
    });
    transports = createTransports(t.url);
    const log = createClient(LogService, transports.make(protocol));
    const call = (token: string, grant: string | undefined, message = "hello") =>
      log.write(
        { level: "info", message },
        { headers: { authorization: `Bearer ${token}`, ...(grant === undefined ? {} : { [HEADER_GRANT]: grant }) } },
      );
    return { written, call };
  }

  it("issues a grant bound to the caller; the capability works with it and only with it", async () => {
    const { written, call } = await setup();
    const { broker } = t.clients(protocol);
    const a = await t.handshake({ pluginName: "a", capabilities: [LOG] }, protocol);
    const b = await t.handshake({ pluginName: "b", capabilities: [LOG] }, protocol);
    const grant = await broker.requestCapability({ capabilityType: LOG }, { headers: { authorization: `Bearer ${a.token}` } });
    expect(grant.grantId).toMatch(/^gr_/);
    expect(grant.grantToken).toMatch(/^pbgt_/);
    expect(await codeOf(call(a.token, grant.grantToken, "from a"))).toBe("ok");
    expect(written).toEqual(["from a"]);
    // Another runtime presenting a's grant is refused.
    expect(await codeOf(call(b.token, grant.grantToken))).toBe(Code.PermissionDenied);
    // No grant, a made-up grant, a runtime token as grant.
    expect(await codeOf(call(a.token, undefined))).toBe(Code.PermissionDenied);
    expect(await codeOf(call(a.token, `pbgt_${"x".repeat(43)}`))).toBe(Code.PermissionDenied);
    expect(await codeOf(call(a.token, a.token))).toBe(Code.PermissionDenied);
    // A grant without a runtime token is not enough.
    expect(await codeOf(log(grant.grantToken))).toBe(Code.Unauthenticated);
    expect(written).toEqual(["from a"]);

    function log(grantToken: string) {
      return createClient(LogService, transports!.make(protocol)).write({}, { headers: { [HEADER_GRANT]: grantToken } });
    }
  });

  it("refuses undeclared and unknown capabilities", async () => {
    await setup();
    const { broker } = t.clients(protocol);
    const plain = await t.handshake({ pluginName: "plain" }, protocol);
    const auth = { headers: { authorization: `Bearer ${plain.token}` } };
    expect(await codeOf(broker.requestCapability({ capabilityType: LOG }, auth))).toBe(Code.PermissionDenied);
    expect(await codeOf(broker.requestCapability({ capabilityType: "nope.v1.Nothing" }, auth))).toBe(Code.NotFound);
    expect(await codeOf(broker.requestCapability({ capabilityType: "bad" }, auth))).toBe(Code.InvalidArgument);
  });

  it("grants expire", async () => {
    const { call } = await setup(60_000);
    const { broker } = t.clients(protocol);
    const a = await t.handshake({ pluginName: "a", capabilities: [LOG] }, protocol);
    const grant = await broker.requestCapability({ capabilityType: LOG }, { headers: { authorization: `Bearer ${a.token}` } });
    expect(await codeOf(call(a.token, grant.grantToken))).toBe("ok");
    clock += 60_001; // past the grant's lifetime on the host's clock, well inside the runtime token's hour
    expect(await codeOf(call(a.token, grant.grantToken))).toBe(Code.PermissionDenied);
  });

  it("revokes grants: only the owner, then the grant stops working; revoking the runtime ends its grants", async () => {
    const { call } = await setup();
    const { broker, handshake } = t.clients(protocol);
    const a = await t.handshake({ pluginName: "a", capabilities: [LOG] }, protocol);
    const b = await t.handshake({ pluginName: "b", capabilities: [LOG] }, protocol);
    const asA = { headers: { authorization: `Bearer ${a.token}` } };
    const g1 = await broker.requestCapability({ capabilityType: LOG }, asA);
    expect(await codeOf(broker.revokeGrant({ grantId: g1.grantId }, { headers: { authorization: `Bearer ${b.token}` } }))).toBe(
      Code.PermissionDenied,
    );
    await broker.revokeGrant({ grantId: g1.grantId }, asA);
    expect(await codeOf(call(a.token, g1.grantToken))).toBe(Code.PermissionDenied);
    expect(await codeOf(broker.revokeGrant({ grantId: g1.grantId }, asA))).toBe(Code.NotFound);
    const g2 = await broker.requestCapability({ capabilityType: LOG }, asA);
    await handshake.revoke({}, asA);
    expect(await t.host.tokens.find(g2.grantId)).toBeUndefined();
  });
});
