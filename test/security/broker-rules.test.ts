/**
 * Every rule of the capability broker and of the grant check, each with its code, message and audit
 * record (found missing by mutation testing of src/broker, docs/testing.md): who may request a grant,
 * the host policy on proven names, revocation by owner or admin, and each reason a grant is refused.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { GetResponseSchema, KVService } from "../../gen/kv/v1/kv_pb.js";
import { LogService, WriteResponseSchema } from "../../gen/hostlog/v1/hostlog_pb.js";
import type { AuditEvent } from "../../src/audit/audit.js";
import type { Capability } from "../../src/host/context.js";
import type { PluginHostOptions } from "../../src/host/options.js";
import { createAdminCredential } from "../../src/ops/admin-credential.js";
import { HEADER_GRANT } from "../../src/protocol/constants.js";
import { startTestHost, type TestHost } from "../helpers/host.js";
import { bearer, createTransports } from "../helpers/transports.js";

const LOG = LogService.typeName;
const KV = KVService.typeName;

/** The ConnectError's code and message, or "ok". */
const outcome = (p: Promise<unknown>) =>
  p.then(
    () => "ok" as const,
    (e: unknown) => {
      const error = ConnectError.from(e);
      return `${Code[error.code]}: ${error.rawMessage}`;
    },
  );

let t: TestHost | undefined;
let closeTransports: (() => void) | undefined;
afterEach(async () => {
  closeTransports?.();
  await t?.close();
  t = undefined;
});

async function setup(options: Partial<PluginHostOptions> = {}) {
  const audit: AuditEvent[] = [];
  const admin = createAdminCredential();
  const logCapability: Capability<typeof LogService> = { service: LogService, impl: { write: () => create(WriteResponseSchema) } };
  const kvCapability: Capability<typeof KVService> = { service: KVService, impl: { get: () => create(GetResponseSchema) } as never };
  t = await startTestHost({ capabilities: [logCapability, kvCapability], audit: (e) => audit.push(e), adminCredential: admin, ...options });
  const transports = createTransports(t.url);
  closeTransports = () => transports.close();
  const transport: Transport = transports.make("connect");
  const log = createClient(LogService, transport);
  const kv = createClient(KVService, transport);
  const useLog = (token: string, grant?: string) =>
    outcome(log.write({ level: "info", message: "m" }, { headers: { authorization: `Bearer ${token}`, ...(grant === undefined ? {} : { [HEADER_GRANT]: grant }) } }));
  const useKv = (token: string, grant: string) => outcome(kv.get({ key: "k" }, { headers: { authorization: `Bearer ${token}`, [HEADER_GRANT]: grant } }));
  return { audit, admin, useLog, useKv, broker: t.clients("connect").broker };
}

describe("RequestCapability", () => {
  it("refuses a caller that is not a plugin runtime, and audits it", async () => {
    const { broker, admin, audit } = await setup();
    expect(await outcome(broker.requestCapability({ capabilityType: LOG }, bearer(admin.token)))).toBe(
      "PermissionDenied: only a plugin runtime may request capabilities",
    );
    expect(audit.filter((e) => e.event === "grant.issue")).toEqual([
      expect.objectContaining({ outcome: "failure", target: LOG, reason: "only a plugin runtime may request capabilities", actor: expect.objectContaining({ method: "token" }) }),
    ]);
  });

  it("NotFound for a capability the host does not offer; PermissionDenied for one not declared at handshake", async () => {
    const { broker, audit } = await setup();
    const rt = await t!.handshake({ pluginName: "a", capabilities: [LOG] });
    expect(await outcome(broker.requestCapability({ capabilityType: "none.v1.Nothing" }, bearer(rt.token)))).toBe(
      "NotFound: the host offers no capability none.v1.Nothing",
    );
    expect(await outcome(broker.requestCapability({ capabilityType: KV }, bearer(rt.token)))).toBe(
      `PermissionDenied: ${KV} was not declared in capabilities at handshake`,
    );
    expect(audit.filter((e) => e.event === "grant.issue").map((e) => [e.outcome, e.target, e.actor?.runtimeId])).toEqual([
      ["failure", "none.v1.Nothing", rt.runtimeId],
      ["failure", KV, rt.runtimeId],
    ]);
  });

  it("a granted request is audited with the capability and grant id", async () => {
    const { broker, audit } = await setup();
    const rt = await t!.handshake({ pluginName: "a", capabilities: [LOG] });
    const grant = await broker.requestCapability({ capabilityType: LOG }, bearer(rt.token));
    expect(Number(grant.expiresAt!.seconds)).toBeGreaterThan(Date.now() / 1000);
    expect(audit.filter((e) => e.event === "grant.issue")).toEqual([
      expect.objectContaining({ outcome: "success", target: `${LOG}#${grant.grantId}`, actor: expect.objectContaining({ runtimeId: rt.runtimeId }) }),
    ]);
  });

  it("host policy: only proven names it allows get a grant", async () => {
    const { broker } = await setup({
      allowUnprovenNames: true,
      // "loose" would be allowed by name, but its name is only claimed.
    policy: { mayRequestCapability: (name, type) => (name === "allowed" || name === "loose") && type === LOG },
    });
    const allowed = await t!.handshake({ pluginName: "allowed", capabilities: [LOG, KV] });
    const denied = await t!.handshake({ pluginName: "denied", capabilities: [LOG] });
    const unproven = await t!.handshake({ pluginName: "loose", capabilities: [LOG], unproven: true });
    expect(await outcome(broker.requestCapability({ capabilityType: LOG }, bearer(allowed.token)))).toBe("ok");
    expect(await outcome(broker.requestCapability({ capabilityType: KV }, bearer(allowed.token)))).toBe(
      `PermissionDenied: host policy does not allow allowed to use ${KV}`,
    );
    expect(await outcome(broker.requestCapability({ capabilityType: LOG }, bearer(denied.token)))).toBe(
      `PermissionDenied: host policy does not allow denied to use ${LOG}`,
    );
    expect(await outcome(broker.requestCapability({ capabilityType: LOG }, bearer(unproven.token)))).toBe(
      `PermissionDenied: host policy does not allow loose to use ${LOG} (name not proven)`,
    );
  });
});

describe("RequestCapability, more edges", () => {
  it("a policy that allows every name still refuses a runtime whose name is only claimed", async () => {
    const { broker } = await setup({ allowUnprovenNames: true, policy: { mayRequestCapability: () => true } });
    const unproven = await t!.handshake({ pluginName: "loose", capabilities: [LOG], unproven: true });
    const proven = await t!.handshake({ pluginName: "proven", capabilities: [LOG] });
    expect(await outcome(broker.requestCapability({ capabilityType: LOG }, bearer(unproven.token)))).toBe(
      `PermissionDenied: host policy does not allow loose to use ${LOG} (name not proven)`,
    );
    expect(await outcome(broker.requestCapability({ capabilityType: LOG }, bearer(proven.token)))).toBe("ok");
  });

  it("names the field of a malformed capability type", async () => {
    const { broker } = await setup();
    const rt = await t!.handshake({ pluginName: "a", capabilities: [LOG] });
    expect(await outcome(broker.requestCapability({ capabilityType: "nodots" }, bearer(rt.token)))).toBe(
      "InvalidArgument: capability_type: must be a fully qualified service name like pkg.v1.Service",
    );
  });

  it("a runtime removed from the store gets a refusal, never an internal error", async () => {
    const { broker } = await setup();
    const rt = await t!.handshake({ pluginName: "a", capabilities: [LOG] });
    await t!.host.store.removeRuntime(rt.runtimeId, "revoked");
    const result = await outcome(broker.requestCapability({ capabilityType: LOG }, bearer(rt.token)));
    expect(result).toMatch(/^(PermissionDenied|Unauthenticated): /);
  });
});

describe("RevokeGrant", () => {
  it("validates the id, finds only grants, lets the owner or an admin revoke, and audits it", async () => {
    const { broker, admin, audit, useLog } = await setup();
    const a = await t!.handshake({ pluginName: "a", capabilities: [LOG] });
    const b = await t!.handshake({ pluginName: "b", capabilities: [LOG] });
    const grantA = await broker.requestCapability({ capabilityType: LOG }, bearer(a.token));
    const grantA2 = await broker.requestCapability({ capabilityType: LOG }, bearer(a.token));
    expect(await outcome(broker.revokeGrant({ grantId: "" }, bearer(a.token)))).toBe("InvalidArgument: grant_id: required");
    expect(await outcome(broker.revokeGrant({ grantId: "g".repeat(65) }, bearer(a.token)))).toBe("InvalidArgument: grant_id: required");
    expect(await outcome(broker.revokeGrant({ grantId: "g".repeat(64) }, bearer(a.token)))).toBe("NotFound: grant not found");
    expect(await outcome(broker.revokeGrant({ grantId: grantA.grantId }, bearer(b.token)))).toBe("PermissionDenied: a plugin may only revoke its own grants");
    expect(await useLog(a.token, grantA.grantToken)).toBe("ok");
    expect(await outcome(broker.revokeGrant({ grantId: grantA.grantId }, bearer(a.token)))).toBe("ok");
    expect(await useLog(a.token, grantA.grantToken)).toBe("PermissionDenied: grant is invalid, expired or revoked");
    expect(await outcome(broker.revokeGrant({ grantId: grantA2.grantId }, bearer(admin.token)))).toBe("ok");
    expect(await useLog(a.token, grantA2.grantToken)).toBe("PermissionDenied: grant is invalid, expired or revoked");
    expect(audit.filter((e) => e.event === "grant.revoke")).toEqual([
      expect.objectContaining({ outcome: "success", target: grantA.grantId, actor: expect.objectContaining({ runtimeId: a.runtimeId }) }),
      expect.objectContaining({ outcome: "success", target: grantA2.grantId, actor: expect.objectContaining({ method: "token" }) }),
    ]);
  });

  it("a runtime token's id is not a grant id", async () => {
    const { broker } = await setup();
    const a = await t!.handshake({ pluginName: "a", capabilities: [LOG] });
    const record = await t!.host.tokens.verify(a.token, "runtime");
    expect(record?.id).toMatch(/^tk_/);
    expect(await outcome(broker.revokeGrant({ grantId: record!.id }, bearer(a.token)))).toBe("NotFound: grant not found");
    expect(await t!.host.tokens.verify(a.token, "runtime")).toBeDefined();
  });
});

describe("the grant check on capability calls", () => {
  it("names each reason, as PermissionDenied, and audits the refusal", async () => {
    const { broker, admin, audit, useLog, useKv } = await setup();
    const a = await t!.handshake({ pluginName: "a", capabilities: [LOG, KV] });
    const b = await t!.handshake({ pluginName: "b", capabilities: [LOG] });
    const grant = await broker.requestCapability({ capabilityType: LOG }, bearer(a.token));
    expect(await useLog(a.token, grant.grantToken)).toBe("ok");
    expect(await useLog(admin.token, grant.grantToken)).toBe("PermissionDenied: capabilities are for plugin runtimes");
    expect(await useLog(a.token)).toBe(`PermissionDenied: calling ${LOG} needs a grant from BrokerService.RequestCapability`);
    expect(await useLog(a.token, "")).toBe(`PermissionDenied: calling ${LOG} needs a grant from BrokerService.RequestCapability`);
    expect(await useLog(a.token, "pbgt_" + "x".repeat(43))).toBe("PermissionDenied: grant is invalid, expired or revoked");
    expect(await useLog(b.token, grant.grantToken)).toBe("PermissionDenied: grant was issued to another runtime");
    expect(await useKv(a.token, grant.grantToken)).toBe("PermissionDenied: grant is for another capability");
    expect(audit.filter((e) => e.event === "grant.use")).toEqual([
      expect.objectContaining({ outcome: "failure", target: LOG, reason: "capabilities are for plugin runtimes" }),
      expect.objectContaining({ outcome: "failure", target: LOG, reason: `calling ${LOG} needs a grant from BrokerService.RequestCapability`, actor: expect.objectContaining({ runtimeId: a.runtimeId }) }),
      expect.objectContaining({ outcome: "failure", target: LOG, reason: `calling ${LOG} needs a grant from BrokerService.RequestCapability` }),
      expect.objectContaining({ outcome: "failure", target: LOG, reason: "grant is invalid, expired or revoked" }),
      expect.objectContaining({ outcome: "failure", target: LOG, reason: "grant was issued to another runtime", actor: expect.objectContaining({ runtimeId: b.runtimeId }) }),
      expect.objectContaining({ outcome: "failure", target: KV, reason: "grant is for another capability" }),
    ]);
  });
});
