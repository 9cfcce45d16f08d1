import { create } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createClient,
  createContextValues,
  createRouterTransport,
  type HandlerContext,
  type Interceptor,
} from "@connectrpc/connect";
import { beforeEach, describe, expect, it } from "vitest";
import { GetSecretsRequestSchema, SecretsService } from "../../../gen/plugboard/v1/secrets_pb.js";
import { identityKey, type Identity } from "../../../src/identity/identity.js";
import { createSecretsService, type SecretsAuditEvent } from "../../../src/secrets/index.js";
import { createMemoryStore } from "../../../src/store/index.js";
import type { RuntimeRecord, SecretNeed, Store } from "../../../src/store/types.js";
import { createCountingProvider, type CountingProvider } from "./fake-provider.js";
import { text } from "../../helpers/secrets.js";
import { runtimeRecord as storeRuntime } from "../../store/fixtures.js";

/** The billing runtime with the given declared secrets. */
function runtimeRecord(secrets: SecretNeed[]): RuntimeRecord {
  return storeRuntime("rt-1", { pluginName: "billing", nameProof: "launch_secret", secrets, expiresAt: Date.now() + 3_600_000 });
}

const runtimeIdentity: Identity = {
  kind: "runtime",
  subject: "runtime:rt-1",
  method: "token",
  runtimeId: "rt-1",
  pluginName: "billing",
  roles: [],
};

function contextWith(identity: Identity | undefined): HandlerContext {
  const values = createContextValues();
  if (identity) values.set(identityKey, identity);
  // The service reads only the caller identity from the context.
  return { values } as HandlerContext;
}

describe("SecretsService.GetSecrets", () => {
  let store: Store;
  let provider: CountingProvider;
  let audit: SecretsAuditEvent[];

  beforeEach(async () => {
    store = createMemoryStore();
    provider = createCountingProvider({ "stripe/key": "sk_live_abc", "db/password": "pw-db", "extra": "undeclared-value" });
    audit = [];
    await store.putRuntime(
      runtimeRecord([
        { name: "stripe/key", version: "", optional: false },
        { name: "db/password", version: "", optional: false },
        { name: "maybe", version: "", optional: true },
      ]),
    );
  });

  const service = (policy?: (plugin: string, secret: string) => boolean) =>
    createSecretsService({ provider, store, ...(policy ? { policy } : {}), audit: (e) => audit.push(e) });

  /** `null` = no identity in the context. */
  const call = (impl: ReturnType<typeof service>, names: string[], identity: Identity | null = runtimeIdentity) =>
    Promise.resolve(impl.getSecrets!(create(GetSecretsRequestSchema, { names }), contextWith(identity ?? undefined)));

  const rejection = async (promise: Promise<unknown>) => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConnectError);
    return error as ConnectError;
  };

  it("returns every declared secret for empty names, skipping missing optional ones", async () => {
    const response = await call(service(), []);
    const secrets = response.secrets ?? [];
    expect(secrets.map((s) => s.name)).toEqual(["stripe/key", "db/password"]);
    expect(text(secrets[0]!.value!)).toBe("sk_live_abc");
    expect(audit).toEqual([
      expect.objectContaining({ outcome: "ok", runtimeId: "rt-1", pluginName: "billing", granted: ["stripe/key", "db/password"] }),
    ]);
  });

  it("returns only the named secrets", async () => {
    const response = await call(service(), ["db/password", "db/password"]);
    expect((response.secrets ?? []).map((s) => s.name)).toEqual(["db/password"]);
    expect(provider.calls.get("stripe/key")).toBeUndefined();
  });

  it("refuses an undeclared name with PermissionDenied naming it, without asking the provider", async () => {
    const error = await rejection(call(service(), ["extra"]));
    expect(error.code).toBe(Code.PermissionDenied);
    expect(error.rawMessage).toContain('"extra"');
    expect(error.rawMessage).toContain("not declared");
    expect(provider.calls.get("extra")).toBeUndefined();
    expect(audit[0]).toMatchObject({ outcome: "denied", code: "PermissionDenied", secretName: "extra" });
  });

  it("applies the policy: named denied → PermissionDenied; all-declared skips denied optional, refuses denied required", async () => {
    const noStripe = service((_plugin, secret) => secret !== "stripe/key");
    expect((await rejection(call(noStripe, ["stripe/key"]))).code).toBe(Code.PermissionDenied);
    expect((await rejection(call(noStripe, []))).rawMessage).toContain("policy");

    const noMaybe = service((plugin, secret) => plugin === "billing" && secret !== "maybe");
    provider.values.set("maybe", "optional-value");
    const response = await call(noMaybe, []);
    expect((response.secrets ?? []).map((s) => s.name)).toEqual(["stripe/key", "db/password"]);
    expect(provider.calls.get("maybe")).toBeUndefined();
  });

  it("a missing required secret is FailedPrecondition naming it, never carrying a value", async () => {
    provider.values.delete("db/password");
    const error = await rejection(call(service(), []));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toContain('"db/password"');
    expect(error.message).not.toContain("sk_live_abc");
  });

  it("a provider outage is Unavailable", async () => {
    provider.failWith = Code.Unavailable;
    expect((await rejection(call(service(), []))).code).toBe(Code.Unavailable);
    provider.failWith = Code.PermissionDenied; // the host's own backend credentials: not the caller's fault
    expect((await rejection(call(service(), []))).code).toBe(Code.Internal);
  });

  it("no identity is Unauthenticated; an external identity or an ended runtime are refused", async () => {
    expect((await rejection(call(service(), [], null))).code).toBe(Code.Unauthenticated);
    const external: Identity = { kind: "external", subject: "CN=ops", method: "mtls", roles: [] };
    expect((await rejection(call(service(), [], external))).code).toBe(Code.PermissionDenied);
    await store.removeRuntime("rt-1", "expired");
    expect((await rejection(call(service(), []))).code).toBe(Code.Unauthenticated);
  });

  it("bounds the request", async () => {
    const many = [...Array(300)].map((_, i) => `n${i}`);
    expect((await rejection(call(service(), many))).code).toBe(Code.InvalidArgument);
    expect((await rejection(call(service(), [""]))).code).toBe(Code.InvalidArgument);
  });

  it("serves over a real connect router with identity set by an interceptor", async () => {
    let identity: Identity | undefined = runtimeIdentity;
    const setIdentity: Interceptor = (next) => async (req) => {
      if (identity) req.contextValues.set(identityKey, identity);
      return next(req);
    };
    const transport = createRouterTransport((router) => router.service(SecretsService, service()), {
      router: { interceptors: [setIdentity] },
    });
    const client = createClient(SecretsService, transport);
    const response = await client.getSecrets({ names: ["stripe/key"] });
    expect(response.secrets).toHaveLength(1);
    expect(text(response.secrets[0]!.value)).toBe("sk_live_abc");
    expect(response.secrets[0]!.version).toBe("");

    const denied = await client.getSecrets({ names: ["extra"] }).catch((e: unknown) => ConnectError.from(e));
    expect(denied).toMatchObject({ code: Code.PermissionDenied });
    identity = undefined;
    const anonymous = await client.getSecrets({}).catch((e: unknown) => ConnectError.from(e));
    expect(anonymous).toMatchObject({ code: Code.Unauthenticated });
  });
});
