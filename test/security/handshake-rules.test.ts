/**
 * Every rule of the handshake service, each with its code, message and audit record (found missing by
 * mutation testing of src/handshake, docs/testing.md): the checks before any proof, how a plugin name is
 * proven (launch secret, enrolment token, certificate or JWT, every proof naming the same plugin), the
 * unproven-name opt-in, provider policy, capabilities and base_url, required secrets, single-use proofs
 * spent only on admission, what the runtime record and response hold, refresh and revoke.
 */
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { LogService, WriteResponseSchema } from "../../gen/hostlog/v1/hostlog_pb.js";
import { RemovalReason, WatchEventType, type WatchResponse } from "../../gen/plugboard/v1/registry_pb.js";
import type { AuditEvent } from "../../src/audit/audit.js";
import type { Capability } from "../../src/host/context.js";
import { HOW_TO_PROVE } from "../../src/handshake/prove-name.js";
import type { PluginHostOptions } from "../../src/host/options.js";
import type { Authenticator } from "../../src/identity/identity.js";
import { createAdminCredential } from "../../src/ops/admin-credential.js";
import type { SecretProvider } from "../../src/secrets/types.js";
import { handshakeRequest, startTestHost, type HandshakeInit, type TestHost } from "../helpers/host.js";
import { bearer } from "../helpers/transports.js";

/** The ConnectError's code and message, or "ok". */
const outcome = (p: Promise<unknown>) =>
  p.then(
    () => "ok" as const,
    (e: unknown) => {
      const error = ConnectError.from(e);
      return `${Code[error.code]}: ${error.rawMessage}`;
    },
  );

/** Stands in for a certificate or JWT authenticator: the test names the identity in a header. */
const IDENTITY_HEADER = "x-test-identity";
const testAuthenticator: Authenticator = async (source) => {
  const given = source.headers.get(IDENTITY_HEADER);
  if (given === null) return undefined;
  const { method, subject, proves } = JSON.parse(given) as { method: "mtls" | "jwt"; subject: string; proves?: string };
  return { kind: "external", subject, method, roles: [], ...(proves === undefined ? {} : { provesPluginName: proves }) };
};
const as = (method: "mtls" | "jwt", subject: string, proves?: string) => ({
  headers: { [IDENTITY_HEADER]: JSON.stringify({ method, subject, ...(proves === undefined ? {} : { proves }) }) },
});

let t: TestHost | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function setup(options: Partial<PluginHostOptions> = {}) {
  const audit: AuditEvent[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: "info" },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    }),
  );
  const admin = createAdminCredential();
  t = await startTestHost({ audit: (e) => audit.push(e), adminCredential: admin, authenticators: [testAuthenticator], logger, ...options });
  const host = t;
  const client = host.clients("connect").handshake;
  /** A handshake with the fields given and no proof added. */
  const raw = (init: HandshakeInit, callOptions?: { headers: Record<string, string> }) =>
    outcome(client.handshake(handshakeRequest(init), callOptions));
  const admit = async (init: HandshakeInit, callOptions?: { headers: Record<string, string> }) => {
    const res = await client.handshake(handshakeRequest(init), callOptions);
    const record = await host.host.store.getRuntime(res.runtimeId);
    return { res, record: record! };
  };
  const handshakeAudit = () => audit.filter((e) => e.event === "handshake");
  return { audit, logs, admin, client, raw, admit, handshakeAudit };
}

describe("checks before any proof", () => {
  it("a wrong cookie key or value is FailedPrecondition, audited with the plugin name (cut to 128 characters)", async () => {
    const { raw, handshakeAudit } = await setup();
    const mismatch = "FailedPrecondition: magic cookie mismatch: this process is not a plugin of this host";
    expect(await raw({ magicCookieKey: "PLUGBOARD_OTHER" })).toBe(mismatch);
    expect(await raw({ magicCookieValue: "c0ffee-plugins!" })).toBe(mismatch);
    expect(await raw({ magicCookieValue: "", pluginName: "p".repeat(300) })).toBe(mismatch);
    expect(handshakeAudit()).toEqual([
      expect.objectContaining({ outcome: "failure", target: "kv", reason: "magic cookie mismatch: this process is not a plugin of this host" }),
      expect.objectContaining({ outcome: "failure", target: "kv" }),
      expect.objectContaining({ outcome: "failure", target: "p".repeat(128) }),
    ]);
  });

  it("another core protocol version is FailedPrecondition naming both versions", async () => {
    const { raw, handshakeAudit } = await setup();
    expect(await raw({ coreProtocolVersion: 2 })).toBe("FailedPrecondition: core protocol version 2 is not supported; the host speaks 1");
    expect(handshakeAudit()).toEqual([expect.objectContaining({ outcome: "failure", reason: "core protocol version 2 is not supported; the host speaks 1" })]);
  });

  it("a malformed app protocol range is InvalidArgument naming its index", async () => {
    const { raw } = await setup();
    expect(await raw({ appProtocolRanges: ["^1.0.0", "one point oh"] })).toBe("InvalidArgument: app_protocol_ranges[1]: must be a semver range");
  });

  it("no common app protocol version is FailedPrecondition listing the host's versions, and audited", async () => {
    const { raw, handshakeAudit } = await setup({ appProtocolVersions: ["1.0.0", "1.4.0"] });
    expect(await raw({ appProtocolRanges: ["^2.0.0"] })).toBe("FailedPrecondition: no common app protocol version: host offers 1.0.0, 1.4.0");
    expect(handshakeAudit()).toEqual([expect.objectContaining({ outcome: "failure", reason: "no common app protocol version: host offers 1.0.0, 1.4.0" })]);
  });

  it("a runtime cannot handshake again with its token", async () => {
    const { raw } = await setup();
    const rt = await t!.handshake();
    expect(await raw({ pluginName: "other", enrolmentToken: await t!.enrol("other") }, bearer(rt.token))).toBe(
      "FailedPrecondition: already a runtime: handshake without a runtime token",
    );
  });
});

describe("proving the plugin name", () => {
  it("without any proof: Unauthenticated, saying how to prove it, and audited", async () => {
    const { raw, handshakeAudit } = await setup();
    expect(await raw({})).toBe(`Unauthenticated: plugin name "kv" is not proven: ${HOW_TO_PROVE}`);
    expect(handshakeAudit()).toEqual([
      expect.objectContaining({ outcome: "failure", target: "kv", reason: `plugin name "kv" is not proven: ${HOW_TO_PROVE}` }),
    ]);
  });

  it("a launch secret: once, for its plugin; another plugin's is PermissionDenied and stays with its owner", async () => {
    const { raw, admit } = await setup();
    const secret = t!.host.issueLaunchSecret("kv");
    expect(await raw({ pluginName: "billing", launchSecret: secret })).toBe('PermissionDenied: launch secret was not issued to plugin "billing"');
    expect(await raw({ launchSecret: secret + "x" })).toBe("Unauthenticated: launch secret unknown, expired or already used");
    const { record } = await admit({ launchSecret: secret });
    expect(record.nameProof).toBe("launch_secret");
    expect(record.boundSubject).toBeUndefined();
    expect(await raw({ launchSecret: secret })).toBe("Unauthenticated: launch secret unknown, expired or already used");
  });

  it("requireLaunchSecret: any other proof alone is refused", async () => {
    const { raw, admit } = await setup({ requireLaunchSecret: true });
    expect(await raw({ enrolmentToken: await t!.enrol() })).toBe(
      "Unauthenticated: launch secret required: this host admits only plugins it launched",
    );
    expect((await admit({ launchSecret: t!.host.issueLaunchSecret("kv") })).record.nameProof).toBe("launch_secret");
  });

  it("an enrolment token: unknown is Unauthenticated, another plugin's is PermissionDenied and keeps its use", async () => {
    const { raw, admit } = await setup();
    const token = await t!.enrol("kv");
    expect(await raw({ enrolmentToken: "pben_nope" })).toBe("Unauthenticated: enrolment token unknown, expired, revoked or used up");
    expect(await raw({ pluginName: "billing", enrolmentToken: token })).toBe('PermissionDenied: enrolment token was not issued to plugin "billing"');
    expect((await admit({ enrolmentToken: token })).record.nameProof).toBe("enrolment");
    expect(await raw({ enrolmentToken: token })).toBe("Unauthenticated: enrolment token unknown, expired, revoked or used up");
  });

  it("a certificate or JWT naming another plugin is PermissionDenied, saying which it was", async () => {
    const { raw } = await setup();
    expect(await raw({}, as("mtls", "spiffe://td/plugin/billing", "billing"))).toBe(
      'PermissionDenied: the client certificate proves plugin name "billing"; plugin_name "kv" is refused',
    );
    expect(await raw({}, as("jwt", "jwt:idp#billing", "billing"))).toBe('PermissionDenied: the JWT proves plugin name "billing"; plugin_name "kv" is refused');
  });

  it("a certificate or JWT naming the plugin proves it and binds the runtime to its subject", async () => {
    const { admit } = await setup();
    const mtls = await admit({}, as("mtls", "spiffe://td/plugin/kv", "kv"));
    expect([mtls.record.nameProof, mtls.record.boundSubject, mtls.record.boundMethod]).toEqual(["mtls", "spiffe://td/plugin/kv", "mtls"]);
    const jwt = await admit({}, as("jwt", "jwt:idp#kv", "kv"));
    expect([jwt.record.nameProof, jwt.record.boundSubject, jwt.record.boundMethod]).toEqual(["jwt", "jwt:idp#kv", "jwt"]);
  });

  it("a certificate naming no plugin binds the subject; the name is proven by the enrolment token", async () => {
    const { admit } = await setup();
    const { record } = await admit({ enrolmentToken: await t!.enrol() }, as("mtls", "cn:kv-host"));
    expect([record.nameProof, record.boundSubject, record.boundMethod]).toEqual(["enrolment", "cn:kv-host", "mtls"]);
  });

  it("a caller authenticated by a bearer credential (the admin's) binds no subject", async () => {
    const { admit, admin } = await setup();
    const { record } = await admit({ enrolmentToken: await t!.enrol() }, bearer(admin.token));
    expect([record.nameProof, record.boundSubject, record.boundMethod]).toEqual(["enrolment", undefined, undefined]);
  });

  it("with several proofs the certificate is the method named, and every single-use proof is spent", async () => {
    const { raw, admit } = await setup();
    const secret = t!.host.issueLaunchSecret("kv");
    const token = await t!.enrol();
    const { record } = await admit({ launchSecret: secret, enrolmentToken: token }, as("mtls", "spiffe://td/plugin/kv", "kv"));
    expect(record.nameProof).toBe("mtls");
    expect(await raw({ launchSecret: secret })).toBe("Unauthenticated: launch secret unknown, expired or already used");
    expect(await raw({ enrolmentToken: token })).toBe("Unauthenticated: enrolment token unknown, expired, revoked or used up");
    const both = await admit({ launchSecret: t!.host.issueLaunchSecret("kv"), enrolmentToken: await t!.enrol() });
    expect(both.record.nameProof).toBe("launch_secret");
  });

  it("a proof refused after a good one spends neither", async () => {
    const { raw, admit } = await setup();
    const secret = t!.host.issueLaunchSecret("kv");
    expect(await raw({ launchSecret: secret, enrolmentToken: await t!.enrol("billing") })).toBe(
      'PermissionDenied: enrolment token was not issued to plugin "kv"',
    );
    expect((await admit({ launchSecret: secret })).record.nameProof).toBe("launch_secret");
  });
});

describe("unproven names (allowUnprovenNames)", () => {
  const taken = (name: string) =>
    `PermissionDenied: plugin name "${name}" is held by a proven runtime or bound in policy, RBAC or runtime roles; an unproven runtime cannot take it: ${HOW_TO_PROVE}`;

  it("are admitted as unproven, bound to no subject, audited and logged as a warning", async () => {
    const { admit, handshakeAudit, logs } = await setup({ allowUnprovenNames: true });
    const { res, record } = await admit({});
    expect([record.nameProof, record.boundSubject]).toEqual(["unproven", undefined]);
    expect(handshakeAudit()).toEqual([expect.objectContaining({ outcome: "success", target: res.runtimeId, reason: "kv (name unproven)" })]);
    expect(logs.filter((l) => l["msg"] === "plugin admitted")).toEqual([
      expect.objectContaining({ level: 40, runtimeId: res.runtimeId, plugin: "kv", version: "1.0.0", nameProof: "unproven" }),
    ]);
  });

  it("cannot take a name that configuration binds or a proven runtime holds; unproven holders share one", async () => {
    const { raw, admit } = await setup({ allowUnprovenNames: true, reservedNames: ["payments"] });
    expect(await raw({ pluginName: "payments" })).toBe(taken("payments"));
    await admit({ pluginName: "kv", enrolmentToken: await t!.enrol("kv") });
    expect(await raw({ pluginName: "kv" })).toBe(taken("kv"));
    const firstCache = (await admit({ pluginName: "cache" })).res.runtimeId;
    expect((await admit({ pluginName: "cache" })).record.nameProof).toBe("unproven");
    // An unproven runtime ends no other holder of its name.
    expect(await t!.host.store.getRuntime(firstCache)).toBeDefined();
  });

  it("a proven runtime ends the unproven holders of its name, and audits each; other names are left alone", async () => {
    const { admit, audit } = await setup({ allowUnprovenNames: true });
    const squatter = (await admit({ pluginName: "kv" })).res.runtimeId;
    const other = (await admit({ pluginName: "cache" })).res.runtimeId;
    const first = (await admit({ pluginName: "kv", enrolmentToken: await t!.enrol("kv") })).res.runtimeId;
    const second = (await admit({ pluginName: "kv", enrolmentToken: await t!.enrol("kv") })).res.runtimeId;
    const store = t!.host.store;
    expect(await store.getRuntime(squatter)).toBeUndefined();
    expect(await store.getRuntime(other)).toBeDefined();
    expect(await store.getRuntime(first)).toBeDefined();
    expect(await store.getRuntime(second)).toBeDefined();
    expect(audit.filter((e) => e.event === "token.revoke")).toEqual([
      expect.objectContaining({ event: "token.revoke", outcome: "success", target: squatter, reason: 'unproven holder of "kv" replaced by a proven runtime' }),
    ]);
  });

  it("cannot be admitted with required secrets; optional ones are fine", async () => {
    const { raw, handshakeAudit } = await setup({ allowUnprovenNames: true });
    expect(await raw({ secrets: [{ name: "db/password" }] })).toBe(
      "PermissionDenied: required secrets need a proven plugin name; this handshake proves none",
    );
    expect(handshakeAudit().at(-1)).toEqual(
      expect.objectContaining({ outcome: "failure", reason: "required secrets need a proven plugin name; this handshake proves none" }),
    );
    expect(await raw({ secrets: [{ name: "db/password", optional: true }] })).toBe("ok");
  });
});

describe("what the plugin may declare", () => {
  it("host policy on providers: refused naming plugin and service, and never for an unproven name", async () => {
    const asked: string[] = [];
    const policy = { mayProvide: (name: string, type: string) => (asked.push(`${name} ${type}`), type === "kv.v1.Kv") };
    const { raw, handshakeAudit } = await setup({ policy, allowUnprovenNames: true });
    const provides = (type: string) => ({ provides: [{ type, version: "1.0.0" }], baseUrl: "http://127.0.0.1:9" });
    expect(await raw({ ...provides("kv.v1.Kv"), enrolmentToken: await t!.enrol() })).toBe("ok");
    expect(await raw({ ...provides("kv.v1.Admin"), enrolmentToken: await t!.enrol() })).toBe(
      "PermissionDenied: host policy does not allow kv to provide kv.v1.Admin",
    );
    expect(await raw({ ...provides("kv.v1.Kv"), pluginName: "cache" })).toBe(
      "PermissionDenied: host policy does not allow cache to provide kv.v1.Kv (name not proven)",
    );
    expect(asked).toEqual(["kv kv.v1.Kv", "kv kv.v1.Admin"]);
    expect(handshakeAudit().map((e) => e.outcome)).toEqual(["success", "failure", "failure"]);
  });

  it("without a provider policy an unproven name may provide", async () => {
    const { raw } = await setup({ allowUnprovenNames: true });
    expect(await raw({ provides: [{ type: "kv.v1.Kv", version: "1.0.0" }], baseUrl: "http://127.0.0.1:9" })).toBe("ok");
  });

  it("capabilities: one the host offers is admitted and listed in the response; another is InvalidArgument", async () => {
    const log: Capability<typeof LogService> = { service: LogService, impl: { write: () => create(WriteResponseSchema) } };
    const { raw, admit } = await setup({ capabilities: [log] });
    expect(await raw({ capabilities: [LogService.typeName, "kv.v1.Nothing"], enrolmentToken: await t!.enrol() })).toBe(
      "InvalidArgument: capabilities: the host offers no capability kv.v1.Nothing",
    );
    const { res, record } = await admit({ capabilities: [LogService.typeName], enrolmentToken: await t!.enrol() });
    expect(record.capabilities).toEqual([LogService.typeName]);
    expect(res.hostCapabilities).toEqual([LogService.typeName]);
  });

  it("base_url: required to provide, validated, kept; a refusal spends no proof", async () => {
    const { raw, admit } = await setup();
    const secret = t!.host.issueLaunchSecret("kv");
    const kv = { provides: [{ type: "kv.v1.Kv", version: "1.0.0" }], launchSecret: secret };
    expect(await raw(kv)).toBe("InvalidArgument: base_url: required when the plugin provides services");
    expect(await raw({ ...kv, baseUrl: "http://example.com:9" })).toMatch(/^InvalidArgument: base_url: /);
    expect((await admit({ ...kv, baseUrl: "http://127.0.0.1:9" })).record.baseUrl).toBe("http://127.0.0.1:9");
    expect((await admit({ enrolmentToken: await t!.enrol() })).record.baseUrl).toBe("");
  });
});

describe("required secrets", () => {
  it("a host serving no secrets refuses a required one with the admission's code and message, audited", async () => {
    const { raw, handshakeAudit } = await setup();
    const message = 'required secret "db/password" not available: this host serves no secrets (configure a secret provider)';
    expect(await raw({ secrets: [{ name: "db/password" }], enrolmentToken: await t!.enrol() })).toBe(`FailedPrecondition: ${message}`);
    expect(handshakeAudit()).toEqual([expect.objectContaining({ outcome: "failure", target: "kv", reason: message })]);
  });

  it("a proof spent by another handshake while the secrets were checked: Unauthenticated, nothing admitted", async () => {
    let entered!: () => void;
    const checking = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const provider: SecretProvider = {
      kind: "gated",
      async get(name) {
        entered();
        await gate;
        return { name, version: "", value: new Uint8Array([1]) };
      },
      list: async () => [],
      getMany: async () => [],
      health: async () => ({ ok: true }),
    };
    const { client, raw, handshakeAudit } = await setup({ secrets: { provider } });
    const secret = t!.host.issueLaunchSecret("kv");
    const slow = outcome(client.handshake(handshakeRequest({ launchSecret: secret, secrets: [{ name: "db/password" }] })));
    await checking;
    expect(await raw({ launchSecret: secret })).toBe("ok");
    release();
    expect(await slow).toBe("Unauthenticated: launch secret or enrolment token was used up meanwhile");
    expect(await t!.host.store.countRuntimes()).toBe(1);
    expect(handshakeAudit().at(-1)).toEqual(
      expect.objectContaining({ outcome: "failure", reason: "launch secret or enrolment token was used up meanwhile" }),
    );
  });
});

describe("an admitted runtime", () => {
  it("record, response, audit and log hold what was declared and proven", async () => {
    const now = 1_900_000_000_000;
    const { admit, handshakeAudit, logs } = await setup({ now: () => now, runtimeTokenTtlMs: 60_000, appProtocolVersions: ["1.2.0", "1.10.0", "2.0.0"] });
    const { res, record } = await admit({
      pluginVersion: "3.1.4",
      appProtocolRanges: ["^1.0.0"],
      requires: [{ type: "log.v1.Log", versionRange: "" }],
      enrolmentToken: await t!.enrol(),
    });
    expect(res.runtimeId).toMatch(/^rt_/);
    expect(res.appProtocolVersion).toBe("1.10.0");
    expect(res.coreProtocolVersion).toBe(1);
    expect(res.hostId).toBe(t!.host.hostId);
    expect(res.callerSigningKey).toHaveLength(32);
    expect(Number(res.tokenExpiresAt!.seconds) * 1000).toBe(now + 60_000);
    expect(record).toEqual(
      expect.objectContaining({
        runtimeId: res.runtimeId,
        pluginName: "kv",
        pluginVersion: "3.1.4",
        requires: [{ type: "log.v1.Log", versionRange: "*", optional: false }],
        provides: [],
        baseUrl: "",
        appProtocolVersion: "1.10.0",
        callerSigningKey: Buffer.from(res.callerSigningKey).toString("base64"),
        nameProof: "enrolment",
        health: 1,
        healthMessage: "",
        healthReportedAt: now,
        startedAt: now,
        expiresAt: now + 60_000,
      }),
    );
    expect(handshakeAudit()).toEqual([expect.objectContaining({ outcome: "success", target: res.runtimeId, reason: "kv (name proven by enrolment)" })]);
    expect(logs.filter((l) => l["msg"] === "plugin admitted")).toEqual([
      expect.objectContaining({ level: 30, runtimeId: res.runtimeId, plugin: "kv", version: "3.1.4", nameProof: "enrolment" }),
    ]);
  });

  it("never gets the id of a runtime that exists, even when the random source repeats it", async () => {
    const replay: Buffer[] = [];
    const random = (size: number) => (size === 16 && replay.length > 0 ? replay.shift()! : randomBytes(size));
    const { admit } = await setup({ random });
    const first = (await admit({ enrolmentToken: await t!.enrol() })).res.runtimeId;
    const token = await t!.enrol();
    replay.push(Buffer.from(first.slice("rt_".length), "base64url"));
    const second = (await admit({ enrolmentToken: token })).res.runtimeId;
    expect(replay).toEqual([]);
    expect(second).not.toBe(first);
    expect(await t!.host.store.countRuntimes()).toBe(2);
  });
});

describe("refresh and revoke", () => {
  it("refresh needs a runtime token, and is audited", async () => {
    const { admin, audit, client } = await setup();
    expect(await outcome(client.refreshToken({}, bearer(admin.token)))).toBe("Unauthenticated: refresh needs a runtime token");
    const rt = await t!.handshake();
    const res = await client.refreshToken({}, bearer(rt.token));
    expect(res.runtimeToken).not.toBe(rt.token);
    expect(audit.filter((e) => e.event === "token.refresh")).toEqual([
      expect.objectContaining({ outcome: "success", target: rt.runtimeId, actor: expect.objectContaining({ runtimeId: rt.runtimeId }) }),
    ]);
  });

  it("a runtime revokes itself; another only as an admin; each audited", async () => {
    const { admin, audit, client, logs } = await setup();
    const a = await t!.handshake({ pluginName: "a" });
    const b = await t!.handshake({ pluginName: "b" });
    expect(await outcome(client.revoke({ runtimeId: b.runtimeId }, bearer(a.token)))).toBe("PermissionDenied: only an admin may revoke another runtime");
    expect(await outcome(client.revoke({}, bearer(admin.token)))).toBe("InvalidArgument: runtime_id: required for callers that are not runtimes");
    expect(await outcome(client.revoke({ runtimeId: "rt_gone" }, bearer(admin.token)))).toBe("NotFound: runtime rt_gone not found");
    expect(await outcome(client.revoke({ reason: "r".repeat(300) }, bearer(a.token)))).toBe("ok");
    expect(await outcome(client.revoke({ runtimeId: b.runtimeId, reason: "ops" }, bearer(admin.token)))).toBe("ok");
    expect(await t!.host.store.countRuntimes()).toBe(0);
    expect(audit.filter((e) => e.event === "token.revoke")).toEqual([
      expect.objectContaining({ outcome: "failure", target: b.runtimeId, reason: "not admin", actor: expect.objectContaining({ runtimeId: a.runtimeId }) }),
      expect.objectContaining({ outcome: "success", target: a.runtimeId, reason: "r".repeat(256) }),
      expect.objectContaining({ outcome: "success", target: b.runtimeId, reason: "ops", actor: expect.objectContaining({ method: "token" }) }),
    ]);
    expect(logs.filter((l) => l["msg"] === "runtime revoked").map((l) => l["runtimeId"])).toEqual([a.runtimeId, b.runtimeId]);
  });
});

describe("what watchers see of a runtime the handshake service ends", () => {
  const KV = "kv.v1.KVService";
  const provides = { provides: [{ type: KV, version: "1.0.0" }], baseUrl: "http://127.0.0.1:7001" };

  /** A watch on KV from its own runtime; `next(n)` waits for n events after the snapshot. */
  async function watchKv() {
    const watcher = await t!.handshake({ pluginName: "watcher" });
    const controller = new AbortController();
    const events: WatchResponse[] = [];
    let wake = () => {};
    let snapshot = false;
    const stream = t!.clients("connect").registry.watch({ serviceTypes: [KV] }, { ...bearer(watcher.token), signal: controller.signal });
    const done = (async () => {
      for await (const m of stream) {
        if (m.type !== WatchEventType.SNAPSHOT) events.push(m);
        else if (m.snapshotComplete) snapshot = true;
        wake();
      }
    })().catch(() => undefined);
    const until = async (n: number) => {
      const deadline = Date.now() + 20_000;
      while ((!snapshot || events.length < n) && Date.now() < deadline) await new Promise<void>((r) => ((wake = r), setTimeout(r, 200)));
      return events.map((e) => `${WatchEventType[e.type]}:${RemovalReason[e.removalReason]}`);
    };
    await until(0);
    return { until, close: async () => (controller.abort(), await done) };
  }

  it("a revoked provider's registrations are REMOVED as RUNTIME_REVOKED", async () => {
    const { client, admin } = await setup();
    const watch = await watchKv();
    const p = await t!.handshake({ pluginName: "kv", ...provides });
    await t!.clients("connect").registry.register({ serviceType: KV }, bearer(p.token));
    await client.revoke({ runtimeId: p.runtimeId }, bearer(admin.token));
    expect(await watch.until(2)).toEqual(["ADDED:UNSPECIFIED", "REMOVED:RUNTIME_REVOKED"]);
    await watch.close();
  });

  it("an unproven holder replaced by a proven runtime has its registrations REMOVED as RUNTIME_REVOKED", async () => {
    await setup({ allowUnprovenNames: true });
    const watch = await watchKv();
    const squatter = await t!.handshake({ pluginName: "kv", unproven: true, ...provides });
    await t!.clients("connect").registry.register({ serviceType: KV }, bearer(squatter.token));
    await t!.handshake({ pluginName: "kv", ...provides });
    expect(await watch.until(2)).toEqual(["ADDED:UNSPECIFIED", "REMOVED:RUNTIME_REVOKED"]);
    await watch.close();
  });
});
