import { AsyncLocalStorage } from "node:async_hooks";
import { Code, createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RegistryService } from "../../../gen/plugboard/v1/registry_pb.js";
import { handshakeRequest } from "../../helpers/host.js";
import { bearer } from "../../helpers/transports.js";
import { codeOf, KV, startAttackHost, type AttackHost } from "../../security/harness.js";

/*
 * A host request's id and its stream's admission travel explicitly (connect-es context values, the
 * router's call state), not through an AsyncLocalStorage: one of those in the process turns async hooks
 * on for every promise and callback of every call, routed ones included.
 */
let h: AttackHost | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await h?.close();
  h = undefined;
});

const withId = (token: string | undefined, requestId: string) => ({
  headers: { ...(token === undefined ? {} : bearer(token).headers), "plugboard-request-id": requestId },
});

describe("request scope", () => {
  it("audit records of host RPCs and routed calls name the caller's request id", async () => {
    h = await startAttackHost();
    const { handshake, registry } = h.t.clients("connect");
    // A host RPC refused in its service (a handshake with a wrong cookie).
    expect(await codeOf(handshake.handshake(handshakeRequest({ pluginName: "x", magicCookieValue: "wrong" }), withId(undefined, "hs-refused")))).toBe(Code.FailedPrecondition);
    // A host RPC that succeeds (a registration; admission checks run in it too).
    await registry.register({ serviceType: KV }, withId(h.kvProvider.token, "reg-ok"));
    // A routed call refused by policy (the outsider declared no dependency on KV).
    expect(await codeOf(h.kv().get({ key: "k" }, withId(h.outsider.token, "undeclared")))).toBe(Code.PermissionDenied);
    // A routed call refused for its credential.
    expect(await codeOf(h.kv().get({ key: "k" }, withId(h.revoked, "revoked-call")))).toBe(Code.Unauthenticated);

    const byId = (id: string) => h!.audit.filter((r) => r.requestId === id).map((r) => `${r.event}:${r.outcome}`);
    expect(byId("hs-refused")).toEqual(["handshake:failure"]);
    expect(byId("reg-ok")).toEqual(["registration:success"]);
    expect(byId("undeclared")).toEqual(["authorization:failure"]);
    expect(byId("revoked-call")).toEqual(["authentication:failure"]);
    // Records of requests without an acceptable id get a fresh one each.
    expect(h.audit.every((r) => typeof r.requestId === "string" && r.requestId.length > 0)).toBe(true);
  });

  it("serving host RPCs, routed calls and watches enters no AsyncLocalStorage", async () => {
    const run = vi.spyOn(AsyncLocalStorage.prototype, "run");
    const enterWith = vi.spyOn(AsyncLocalStorage.prototype, "enterWith");
    h = await startAttackHost();
    const registry = createClient(RegistryService, h.transports.make("grpc"));
    for (const protocol of ["connect", "grpc", "grpc-web"] as const) {
      expect(await codeOf(h.kv(h.transports.make(protocol)).get({ key: "k" }, bearer(h.consumer.token)))).toBe("ok");
    }
    const found = await registry.discover({ serviceType: KV }, bearer(h.consumer.token));
    expect(found.providers.length).toBeGreaterThan(0);
    const abort = new AbortController();
    const watch = registry.watch({ serviceTypes: [KV] }, { ...bearer(h.consumer.token), signal: abort.signal });
    const first = await watch[Symbol.asyncIterator]().next();
    expect(first.done).toBe(false);
    abort.abort();
    expect(run).not.toHaveBeenCalled();
    expect(enterWith).not.toHaveBeenCalled();
  });
});
