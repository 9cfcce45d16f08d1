import type { DescService } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/plugboard/v1/admin_pb.js";
import { BrokerService } from "../../gen/plugboard/v1/broker_pb.js";
import { HandshakeService } from "../../gen/plugboard/v1/handshake_pb.js";
import { LifecycleService } from "../../gen/plugboard/v1/lifecycle_pb.js";
import { RegistryService } from "../../gen/plugboard/v1/registry_pb.js";
import { SecretsService } from "../../gen/plugboard/v1/secrets_pb.js";
import { LogService } from "../../gen/hostlog/v1/hostlog_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { bearer } from "../helpers/transports.js";
import { callAny, codeOf, SECRET_VALUE, startAttackHost, type AttackHost } from "./harness.js";

/**
 * Every host RPC and a routed call, presented with every kind of bad credential,
 * over Connect and gRPC: all are Unauthenticated, and nothing reaches a handler
 * or a provider. Then valid credentials used against someone else's resources.
 */
let h: AttackHost;
beforeAll(async () => {
  h = await startAttackHost();
});
afterAll(async () => h?.close());

/** Every RPC of every host service (Handshake itself is public: it is checked apart). */
const ALL_METHODS = (services: DescService[]) => services.flatMap((s) => s.methods.map((m) => [s, m.localName] as [DescService, string]));
const GUARDED = ALL_METHODS([HandshakeService, RegistryService, BrokerService, LifecycleService, AdminService, SecretsService, LogService]).filter(
  ([s, m]) => !(s === HandshakeService && m === "handshake"),
);

const BAD: Array<[string, () => Record<string, string>]> = [
  ["no credential", () => ({})],
  ["an empty bearer", () => ({ authorization: "Bearer " })],
  ["a bare scheme", () => ({ authorization: "Bearer" })],
  ["another scheme", () => ({ authorization: "Basic dXNlcjpwYXNz" })],
  ["a truncated token", () => ({ authorization: `Bearer ${h.consumer.token.slice(0, 20)}` })],
  ["a token with a flipped character", () => ({ authorization: `Bearer ${flip(h.consumer.token)}` })],
  ["an overlong token", () => ({ authorization: `Bearer ${h.consumer.token}${"A".repeat(4000)}` })],
  ["a made-up token", () => ({ authorization: `Bearer pbrt_${"A".repeat(43)}` })],
  ["an expired token", () => ({ authorization: `Bearer ${h.expired}` })],
  ["a revoked token", () => ({ authorization: `Bearer ${h.revoked}` })],
  ["a grant token as runtime token", () => ({ authorization: `Bearer ${h.grant.grantToken}` })],
  ["the caller signing key as token", () => ({ authorization: `Bearer ${Buffer.from(h.consumer.signingKey).toString("base64")}` })],
  ["a spoofed caller header alone", () => ({ "plugboard-caller": "v1.0.e30.AAAA" })],
  ["a grant header alone", () => ({ "plugboard-grant": h.grant.grantToken })],
];

function flip(token: string): string {
  const i = token.length - 3;
  return token.slice(0, i) + (token[i] === "A" ? "B" : "A") + token.slice(i + 1);
}

describe.each(["connect", "grpc"] as const)("bad credentials over %s", (protocol) => {
  it.each(BAD)("every host RPC refuses %s with Unauthenticated", async (_name, headers) => {
    const transport = h.transports.make(protocol);
    const codes = await Promise.all(GUARDED.map(async ([s, m]) => [`${s.typeName}/${m}`, await callAny(transport, s, m, headers())] as const));
    expect(codes.filter(([, code]) => code !== Code.Unauthenticated)).toEqual([]);
  });

  it.each(BAD)("a routed call refuses %s with Unauthenticated and never reaches the provider", async (_name, headers) => {
    h.view.headers = undefined;
    expect(await codeOf(h.kv(h.transports.make(protocol)).get({ key: "k" }, { headers: headers() }))).toBe(Code.Unauthenticated);
    expect(h.view.headers).toBeUndefined();
  });

  // Handshake is public: a runtime-token-shaped credential is still checked; anything else is not a
  // runtime token and is ignored, and grants nothing (the empty request is refused for its cookie).
  it.each(BAD.filter(([name]) => /token/.test(name) && !/grant|signing/.test(name)))(
    "the public Handshake still refuses %s",
    async (_name, headers) => {
      expect(await callAny(h.transports.make(protocol), HandshakeService, "handshake", headers())).toBe(Code.Unauthenticated);
    },
  );
  it.each(BAD)("the public Handshake gives nothing for %s", async (_name, headers) => {
    expect(await callAny(h.transports.make(protocol), HandshakeService, "handshake", headers())).not.toBe("ok");
  });
});

describe("valid credentials, someone else's resources", () => {
  it("an outsider cannot unregister the provider's registration", async () => {
    const { registry } = h.t.clients("connect");
    expect(await codeOf(registry.unregister({ registrationId: h.registrationId }, bearer(h.outsider.token)))).toBe(Code.PermissionDenied);
    expect((await registry.discover({ serviceType: "kv.v1.KVService" }, bearer(h.consumer.token))).providers).toHaveLength(1);
  });

  it("an outsider cannot revoke another runtime or another runtime's grant, nor use the grant", async () => {
    const { handshake, broker } = h.t.clients("connect");
    expect(await codeOf(handshake.revoke({ runtimeId: h.consumer.runtimeId }, bearer(h.outsider.token)))).toBe(Code.PermissionDenied);
    expect(await codeOf(broker.revokeGrant({ grantId: h.grant.grantId }, bearer(h.outsider.token)))).not.toBe("ok");
    const transport = h.transports.make("connect");
    expect(await callAny(transport, LogService, "write", { authorization: `Bearer ${h.outsider.token}`, "plugboard-grant": h.grant.grantToken })).toBe(Code.PermissionDenied);
    // The consumer's own grant still works, and its token too.
    expect(await callAny(transport, LogService, "write", { authorization: `Bearer ${h.consumer.token}`, "plugboard-grant": h.grant.grantToken })).toBe("ok");
  });

  it("a runtime token is not a grant", async () => {
    const transport = h.transports.make("connect");
    expect(await callAny(transport, LogService, "write", { authorization: `Bearer ${h.consumer.token}`, "plugboard-grant": h.consumer.token })).toBe(Code.PermissionDenied);
  });

  it("a non-admin runtime cannot list runtimes", async () => {
    expect(await codeOf(h.t.clients("connect").admin.listRuntimes({}, bearer(h.consumer.token)))).toBe(Code.PermissionDenied);
  });

  it("an outsider that did not declare the dependency cannot call the provider", async () => {
    h.view.headers = undefined;
    expect(await codeOf(h.kv().get({ key: "k" }, bearer(h.outsider.token)))).toBe(Code.PermissionDenied);
    expect(h.view.headers).toBeUndefined();
    expect(await codeOf(h.kv().get({ key: "k" }, bearer(h.consumer.token)))).toBe("ok");
  });

  it("secrets go only to the runtime that declared them", async () => {
    const { createClient } = await import("@connectrpc/connect");
    const secrets = createClient(SecretsService, h.transports.make("connect"));
    const mine = await secrets.getSecrets({ names: ["db/password"] }, bearer(h.consumer.token));
    expect(Buffer.from(mine.secrets[0]!.value).toString()).toBe(SECRET_VALUE);
    expect(await codeOf(secrets.getSecrets({ names: ["db/password"] }, bearer(h.outsider.token)))).toBe(Code.PermissionDenied);
  });

  it("health stays public for probes, and no audit record carries a token or secret", async () => {
    expect(await callAny(h.transports.make("connect"), Health, "check", {})).toBe("ok");
    const text = JSON.stringify(h.audit);
    for (const token of [h.consumer.token, h.outsider.token, h.expired, h.revoked, h.grant.grantToken, h.kvProvider.token])
      expect(text).not.toContain(token.slice(5));
    expect(text).not.toContain(SECRET_VALUE);
    expect(h.audit.some((r) => r.event === "authentication" && r.outcome === "failure")).toBe(true);
  });
});
