import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type HandlerContext } from "@connectrpc/connect";
import { beforeEach, describe, expect, it } from "vitest";
import { GetSecretsRequestSchema, WatchSecretsRequestSchema } from "../../../gen/plugboard/v1/secrets_pb.js";
import { identityKey, type Identity } from "../../../src/identity/identity.js";
import { SecretError } from "../../../src/secrets/errors.js";
import { createSecretsService, type SecretsAuditEvent, type SecretsServiceOptions } from "../../../src/secrets/service.js";
import { createMemoryStore } from "../../../src/store/index.js";
import type { SecretNeed, Store } from "../../../src/store/types.js";
import { runtimeRecord } from "../../store/fixtures.js";
import { createCountingProvider, type CountingProvider } from "./fake-provider.js";
import { recordingLogger } from "./recording-logger.js";
import { text } from "../../helpers/secrets.js";

/** The secrets of an answer, as sent. */
const list = (secrets: unknown) => secrets as { name: string; version: string; value: Uint8Array; stale?: boolean }[];

const runtime: Identity = { kind: "runtime", subject: "runtime:rt-1", method: "token", runtimeId: "rt-1", pluginName: "billing", roles: [] };
const declared: SecretNeed[] = [
  { name: "a", version: "", optional: false },
  { name: "b", version: "", optional: false },
  { name: "opt", version: "", optional: true },
];

function contextWith(identity: Identity | undefined, signal?: AbortSignal): HandlerContext {
  const values = createContextValues();
  if (identity) values.set(identityKey, identity);
  return { values, ...(signal ? { signal } : {}) } as HandlerContext;
}

async function refusal(promise: Promise<unknown>): Promise<ConnectError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConnectError);
  return error as ConnectError;
}

describe("SecretsService rules", () => {
  let store: Store;
  let provider: CountingProvider;
  let audit: SecretsAuditEvent[];

  beforeEach(async () => {
    store = createMemoryStore();
    provider = createCountingProvider({ a: "va", b: "vb", opt: "vo" });
    audit = [];
    await store.putRuntime(runtimeRecord("rt-1", { pluginName: "billing", nameProof: "launch_secret", secrets: declared }));
  });

  const service = (o: Partial<SecretsServiceOptions> = {}) => createSecretsService({ provider, store, audit: (e) => audit.push(e), ...o });
  /** `null`: no identity in the context. */
  const get = (impl: ReturnType<typeof service>, names: string[], identity: Identity | null = runtime) =>
    Promise.resolve(impl.getSecrets!(create(GetSecretsRequestSchema, { names }), contextWith(identity ?? undefined)));

  it("refuses callers that are not live plugin runtimes, saying why", async () => {
    expect(await refusal(get(service(), [], null))).toMatchObject({ code: Code.Unauthenticated, rawMessage: "no caller identity" });
    const external: Identity = { kind: "external", subject: "CN=ops", method: "mtls", runtimeId: "rt-1", roles: [] };
    expect(await refusal(get(service(), [], external))).toMatchObject({ code: Code.PermissionDenied, rawMessage: "only plugin runtimes may read secrets" });
    const noId: Identity = { ...runtime, runtimeId: "" };
    expect(await refusal(get(service(), [], noId))).toMatchObject({ code: Code.PermissionDenied, rawMessage: "only plugin runtimes may read secrets" });
    const ended: Identity = { ...runtime, runtimeId: "rt-gone" };
    expect(await refusal(get(service(), [], ended))).toMatchObject({ code: Code.Unauthenticated, rawMessage: "runtime is not known or has ended" });
    expect(provider.totalCalls()).toBe(0);
    expect(audit[0]).toEqual({ type: "secrets.get", subject: "", requested: [], granted: [], requestId: undefined, outcome: "denied", code: "Unauthenticated" });
  });

  it("a runtime whose plugin name is unproven reads nothing, whatever the policy", async () => {
    await store.putRuntime(runtimeRecord("rt-2", { pluginName: "billing", nameProof: "unproven", secrets: declared }));
    const error = await refusal(get(service({ policy: () => true }), ["a"], { ...runtime, runtimeId: "rt-2" }));
    expect(error).toMatchObject({
      code: Code.PermissionDenied,
      rawMessage: "secrets are scoped to proven plugin names; this runtime's name is unproven",
    });
    expect(provider.totalCalls()).toBe(0);
  });

  it("bounds the names: at most 256 per call, each 1 to 512 characters", async () => {
    const names = (n: number) => [...Array(n)].map((_, i) => `n${i}`);
    expect(await refusal(get(service(), names(257)))).toMatchObject({ code: Code.InvalidArgument, rawMessage: "at most 256 names per call" });
    // 256 passes the bound; the first undeclared name is then refused.
    expect(await refusal(get(service(), names(256)))).toMatchObject({ code: Code.PermissionDenied, rawMessage: 'secret "n0": not declared at handshake' });
    for (const name of ["", "x".repeat(513)]) {
      expect(await refusal(get(service(), [name]))).toMatchObject({ code: Code.InvalidArgument, rawMessage: "secret names must be 1 to 512 characters" });
    }
    expect((await refusal(get(service(), ["x".repeat(512)]))).code).toBe(Code.PermissionDenied);
  });

  it("RBAC (authorize) is asked for every name: a named refusal, a refused required one in the full list, a skipped optional one", async () => {
    const asked: string[] = [];
    const authorize = (caller: Identity, name: string) => {
      expect(caller).toBe(runtime);
      asked.push(name);
      return name !== "b" && name !== "opt";
    };
    const named = await refusal(get(service({ authorize }), ["b"]));
    expect(named).toMatchObject({ code: Code.PermissionDenied, rawMessage: 'secret "b": permission secret:b not granted' });
    expect(audit.at(-1)).toMatchObject({ outcome: "denied", code: "PermissionDenied", secretName: "b", runtimeId: "rt-1", pluginName: "billing" });
    expect((await refusal(get(service({ authorize }), []))).rawMessage).toBe('secret "b": permission secret:b not granted');
    const onlyOptionalRefused = (_c: Identity, name: string) => name !== "opt";
    const response = await get(service({ authorize: onlyOptionalRefused }), []);
    expect(list(response.secrets).map((s) => s.name)).toEqual(["a", "b"]);
    expect(provider.calls.get("opt")).toBeUndefined();
    expect(asked).toEqual(["b", "a", "b"]);
    // Named explicitly, a refused optional secret is refused.
    expect((await refusal(get(service({ authorize: onlyOptionalRefused }), ["opt"]))).code).toBe(Code.PermissionDenied);
  });

  it("the policy is asked with the proven plugin name", async () => {
    const asked: [string, string][] = [];
    const policy = (plugin: string, name: string) => (asked.push([plugin, name]), name === "a");
    expect(list((await get(service({ policy }), ["a"])).secrets).map((s) => s.name)).toEqual(["a"]);
    expect(await refusal(get(service({ policy }), ["b"]))).toMatchObject({ rawMessage: 'secret "b": host policy does not allow it' });
    expect(asked).toEqual([
      ["billing", "a"],
      ["billing", "b"],
    ]);
  });

  it("a failure that is no ConnectError is Internal, without its text", async () => {
    const broken = { ...store, getRuntime: async () => Promise.reject(new Error("store down sk-detail")) } as Store;
    const error = await refusal(get(createSecretsService({ provider, store: broken, audit: (e) => audit.push(e) }), ["a"]));
    expect(error).toMatchObject({ code: Code.Internal, rawMessage: "secrets request failed" });
    expect(audit.at(-1)).toMatchObject({ outcome: "error", code: "Internal" });
  });

  it("maps provider failures by code, naming the secret when the provider did", async () => {
    const failWith = async (error: unknown) => {
      const p = { ...provider, getMany: async () => Promise.reject(error) };
      return refusal(Promise.resolve(createSecretsService({ provider: p, store, audit: (e) => audit.push(e) }).getSecrets!(create(GetSecretsRequestSchema, { names: ["a"] }), contextWith(runtime))));
    };
    expect(await failWith(new Error("raw sk-value"))).toMatchObject({ code: Code.Internal, rawMessage: "secret provider failed" });
    expect(audit.at(-1)).toMatchObject({ outcome: "error", code: "Internal" });
    expect(audit.at(-1)).not.toHaveProperty("secretName");
    const missing = await failWith(new SecretError("x", Code.NotFound, "a"));
    expect(missing).toMatchObject({ code: Code.FailedPrecondition, rawMessage: 'required secret "a" is not available', secretName: "a" });
    expect(audit.at(-1)).toMatchObject({ outcome: "error", code: "FailedPrecondition", secretName: "a" });
    const anonymous = await failWith(new ConnectError("x", Code.NotFound));
    expect(anonymous).toMatchObject({ code: Code.FailedPrecondition, rawMessage: "required secret is not available" });
    expect(anonymous).not.toHaveProperty("secretName");
    expect(await failWith(new SecretError("x", Code.Unavailable, "a"))).toMatchObject({ code: Code.Unavailable, rawMessage: 'secret provider unavailable for "a"' });
    expect(await failWith(new SecretError("x", Code.DeadlineExceeded, "a"))).toMatchObject({ code: Code.Unavailable });
    expect(await failWith(new SecretError("x", Code.Unavailable))).toMatchObject({ code: Code.Unavailable, rawMessage: "secret provider unavailable" });
    expect(await failWith(new SecretError("x", Code.PermissionDenied, "a"))).toMatchObject({ code: Code.Internal, rawMessage: 'secret provider could not serve "a"' });
    expect(audit.at(-1)).toMatchObject({ outcome: "error", code: "Internal" });
    expect(await failWith(new SecretError("x", Code.InvalidArgument))).toMatchObject({ code: Code.Internal, rawMessage: "secret provider could not serve" });
  });

  it("audits the request's names and outcome, logs names and reasons but no values, and survives a failing audit sink", async () => {
    const { logger, lines } = recordingLogger();
    const ok = await get(service({ logger }), ["b", "a"]);
    expect(list(ok.secrets).map((s) => [s.name, text(s.value)])).toEqual([
      ["b", "vb"],
      ["a", "va"],
    ]);
    expect(audit.at(-1)).toEqual({
      type: "secrets.get",
      subject: "runtime:rt-1",
      requested: ["b", "a"],
      granted: ["b", "a"],
      requestId: undefined,
      runtimeId: "rt-1",
      pluginName: "billing",
      outcome: "ok",
    });
    expect(lines).toContainEqual(["debug", { runtimeId: "rt-1", secretNames: ["b", "a"] }, "secrets handed out"]);
    await refusal(get(service({ logger }), ["zz"]));
    expect(lines.at(-1)).toEqual([
      "info",
      { runtimeId: "rt-1", code: "PermissionDenied", secretName: "zz", reason: 'secret "zz": not declared at handshake' },
      "secrets request refused",
    ]);
    expect(JSON.stringify(lines)).not.toMatch(/"v[ab]"/);
    const throwing = createSecretsService({ provider, store, audit: () => { throw new Error("sink down"); } });
    expect((await get(throwing, ["a"])).secrets).toHaveLength(1);
    expect((await refusal(get(throwing, ["zz"]))).code).toBe(Code.PermissionDenied);
    // A refusal before the runtime is known is logged and audited without one.
    expect(await refusal(get(service({ logger }), ["a"], null))).toMatchObject({ code: Code.Unauthenticated });
    expect(lines.at(-1)).toEqual(["info", { runtimeId: undefined, code: "Unauthenticated", secretName: undefined, reason: "no caller identity" }, "secrets request refused"]);
    expect(audit.at(-1)).not.toHaveProperty("runtimeId");
    const noAudit = createSecretsService({ provider, store });
    expect((await get(noAudit, ["a"])).secrets).toHaveLength(1);
  });
});

describe("SecretsService.WatchSecrets rules", () => {
  let store: Store;
  let provider: CountingProvider;
  let audit: SecretsAuditEvent[];

  beforeEach(async () => {
    store = createMemoryStore();
    provider = createCountingProvider({ a: "va", b: "vb" });
    audit = [];
    await store.putRuntime(runtimeRecord("rt-1", { pluginName: "billing", nameProof: "launch_secret", secrets: declared }));
  });

  it("streams the state, then changes; audits each fresh version, not stale ones; drops what RBAC stops allowing", async () => {
    let allowB = true;
    const impl = createSecretsService({
      provider,
      store,
      audit: (e) => audit.push(e),
      authorize: (_c, name) => name !== "b" || allowB,
      watch: { refreshIntervalMs: 10, jitter: 0 },
    });
    const controller = new AbortController();
    const stream = impl.watchSecrets!(create(WatchSecretsRequestSchema, { names: [] }), contextWith(runtime, controller.signal))[Symbol.asyncIterator]();
    const first = (await stream.next()).value!;
    expect(first.initial).toBe(true);
    expect(list(first.secrets).map((s) => [s.name, text(s.value!), s.stale])).toEqual([
      ["a", "va", false],
      ["b", "vb", false],
    ]);
    expect(audit).toEqual([
      { type: "secrets.watch", subject: "runtime:rt-1", runtimeId: "rt-1", requestId: undefined, pluginName: "billing", requested: [], granted: ["a@", "b@"], outcome: "ok" },
    ]);

    provider.values.set("a", "va2");
    const second = (await stream.next()).value!;
    expect(second).toMatchObject({ initial: false, removed: [] });
    expect(list(second.secrets).map((s) => [s.name, text(s.value!), s.stale])).toEqual([["a", "va2", false]]);
    expect(audit.at(-1)!.granted).toEqual(["a@"]);

    provider.failWith = Code.Unavailable;
    const third = (await stream.next()).value!;
    expect(list(third.secrets).map((s) => [s.name, s.stale])).toEqual([
      ["a", true],
      ["b", true],
    ]);
    expect(audit).toHaveLength(2); // stale values are not new reads
    provider.failWith = undefined;

    allowB = false;
    const fourth = (await stream.next()).value!;
    expect(fourth.removed).toEqual(["b"]);
    expect(list(fourth.secrets).map((s) => [s.name, s.stale])).toEqual([["a", false]]);
    controller.abort();
    expect((await stream.next()).done).toBe(true);
  });

  it("asks the provider for the declared version of each watched secret, and refuses like GetSecrets", async () => {
    await store.putRuntime(
      runtimeRecord("rt-3", { pluginName: "billing", nameProof: "launch_secret", secrets: [{ name: "a", version: "7", optional: false }] }),
    );
    const asked: unknown[] = [];
    const recording = { ...provider, get: (name: string, options?: { version?: string }) => (asked.push([name, options]), provider.get(name, options)) };
    const impl = createSecretsService({ provider: recording, store, audit: (e) => audit.push(e), watch: { refreshIntervalMs: 10, jitter: 0 } });
    const controller = new AbortController();
    const stream = impl.watchSecrets!(create(WatchSecretsRequestSchema, { names: ["a"] }), contextWith({ ...runtime, runtimeId: "rt-3" }, controller.signal))[
      Symbol.asyncIterator
    ]();
    expect(list((await stream.next()).value!.secrets).map((s) => s.version)).toEqual(["7"]);
    expect(audit.at(-1)).toMatchObject({ requested: ["a"], granted: ["a@7"] });
    const pending = stream.next();
    // The refresh rounds ask for the declared version too.
    for (let i = 0; i < 400 && asked.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(asked.slice(0, 2)).toEqual([
      ["a", { version: "7" }],
      ["a", { version: "7" }],
    ]);
    controller.abort();
    await pending;

    const refused = impl.watchSecrets!(create(WatchSecretsRequestSchema, { names: ["zz"] }), contextWith(runtime, new AbortController().signal))[Symbol.asyncIterator]();
    expect(await refusal(refused.next())).toMatchObject({ code: Code.PermissionDenied, rawMessage: 'secret "zz": not declared at handshake' });
    expect(() => createSecretsService({ provider, store, watch: { refreshIntervalMs: 1 } })).toThrow(TypeError);
  });
});
