import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { createChainSecretProvider } from "../../../src/secrets/chain.js";
import { createSecretProvider } from "../../../src/secrets/config.js";
import { createEnvSecretProvider } from "../../../src/secrets/env.js";
import { SecretError, secretNotFound } from "../../../src/secrets/errors.js";
import { createLazySecretProvider, importWithOptionalPeer } from "../../../src/secrets/lazy.js";
import { resolveMany } from "../../../src/secrets/many.js";
import type { SecretCache } from "../../../src/secrets/cache.js";
import type { SecretProvider } from "../../../src/secrets/types.js";
import { startFakeSecretsManager } from "../../integration/secrets/fake-aws-sm.js";
import { createCountingProvider } from "./fake-provider.js";
import { recordingLogger } from "./recording-logger.js";
import { failure, text } from "../../helpers/secrets.js";

describe("chain provider details", () => {
  it("names its members in its kind, its NotFound and its locate", async () => {
    const first = createCountingProvider({ b: "1", a: "1" });
    const second = Object.assign(createCountingProvider({ a: "2", c: "2" }), { kind: "second", locate: (n: string) => `second:${n}` });
    const chain = createChainSecretProvider([first, second]);
    expect(chain.kind).toBe("chain(counting,second)");
    expect(await failure(chain.get("zz"))).toMatchObject({ code: Code.NotFound, rawMessage: 'secret "zz": not found in counting, second', secretName: "zz" });
    expect(chain.locate!("x")).toBe("counting provider, then second:x");
    expect(await chain.list()).toEqual(["a", "b", "c"]);
    const many = await chain.getMany([
      { name: "c", version: "", optional: false },
      { name: "zz", version: "", optional: true },
    ]);
    expect(many.map((s) => text(s.value))).toEqual(["2"]);
    expect(() => createChainSecretProvider([])).toThrow(new TypeError("chain secret provider needs at least one provider"));
  });

  it("a non-SecretError NotFound-looking failure stops the chain", async () => {
    const odd = createCountingProvider({});
    odd.get = async () => Promise.reject(Object.assign(new Error("x"), { code: Code.NotFound }));
    const chain = createChainSecretProvider([odd, createCountingProvider({ a: "later" })]);
    await expect(chain.get("a")).rejects.toThrow("x");
  });

  it("health lists each failing member with its detail; close closes every member that can be closed", async () => {
    const ok = createCountingProvider();
    const failing = createCountingProvider();
    failing.failWith = Code.Unavailable;
    let closed = 0;
    const silent: SecretProvider = { ...createCountingProvider(), kind: "silent", health: async () => ({ ok: false }), close: async () => void closed++ };
    expect(await createChainSecretProvider([ok, ok]).health()).toEqual({ ok: true });
    expect(await createChainSecretProvider([ok, failing, silent]).health()).toEqual({ ok: false, detail: "counting: failing; silent: unhealthy" });
    await createChainSecretProvider([ok, silent, silent]).close!();
    expect(closed).toBe(2);
  });
});

describe("createSecretProvider details", () => {
  it("refuses configs that are not objects, chains without providers, unknown kinds, naming them", () => {
    for (const config of [null, undefined, "env", 3]) {
      expect(() => createSecretProvider(config as never), String(config)).toThrow(new TypeError("secret provider config must be an object"));
    }
    expect(() => createSecretProvider({ kind: "chain" } as never)).toThrow(new TypeError("chain secret provider needs providers"));
    expect(() => createSecretProvider({ kind: "nope" } as never)).toThrow(new TypeError('unknown secret provider kind "nope"'));
  });

  it("caches aws by default; passes cache options and the logger to the cache", async () => {
    expect("stats" in createSecretProvider({ kind: "aws", region: "eu-west-1" })).toBe(true);
    expect("stats" in createSecretProvider({ kind: "aws", region: "eu-west-1", cache: false })).toBe(false);
    const env: Record<string, string> = { PB_SECRET_K: "one" };
    const fresh = createSecretProvider({ kind: "env", env, cache: { ttlMs: 0 } });
    const cached = createSecretProvider({ kind: "env", env, cache: true });
    expect("stats" in fresh && "stats" in cached).toBe(true);
    await fresh.get("k");
    await cached.get("k");
    env["PB_SECRET_K"] = "two";
    expect(text((await fresh.get("k")).value)).toBe("two");
    expect(text((await cached.get("k")).value)).toBe("one");
    const { logger, lines } = recordingLogger();
    const logged = createSecretProvider({ kind: "env", env: {}, cache: true }, { logger });
    await expect(logged.get("missing")).rejects.toMatchObject({ code: Code.NotFound });
    expect(lines.map((l) => l[2])).toEqual(["secret backend call failed"]);
    expect((logged as SecretCache).stats().errors).toBe(1);
  });

  it("gives the vault provider the logger", async () => {
    const { logger, lines } = recordingLogger();
    const vault = createSecretProvider({ kind: "vault", address: "http://127.0.0.1:1", token: "t", cache: false }, { logger });
    try {
      await expect(vault.get("k")).rejects.toMatchObject({ code: Code.Unavailable });
      for (let i = 0; i < 200 && lines.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(lines).toContainEqual(["warn", { backend: "vault", code: Code.Unavailable }, "vault token lookup failed; will retry"]);
    } finally {
      await vault.close!();
    }
  });

  it("loads the aws provider on first use and reads through it", async () => {
    const sm = await startFakeSecretsManager();
    try {
      sm.put("k", "from-aws");
      const aws = createSecretProvider({
        kind: "aws",
        region: "us-east-1",
        endpoint: sm.url,
        credentials: { accessKeyId: "A", secretAccessKey: "s" },
        maxAttempts: 1,
        cache: false,
      });
      expect(text((await aws.get("k")).value)).toBe("from-aws");
      await aws.close!();
    } finally {
      await sm.close();
    }
  });
});

describe("env provider details", () => {
  it("refuses a bad prefix, a version of a present variable, and lists only its prefix", async () => {
    expect(() => createEnvSecretProvider({ prefix: "BAD-" })).toThrow(new TypeError("env secret prefix may hold only letters, digits and _"));
    const provider = createEnvSecretProvider({ prefix: "APP_", env: { APP_DB: "x", XAPP_DB: "y", ZAPPXDB: "y", APP_: "z" } });
    expect(await provider.list()).toEqual(["db"]);
    expect(await failure(provider.get("db", { version: "3" }))).toMatchObject({
      code: Code.NotFound,
      rawMessage: 'secret "db": version "3" not available (env has no versions)',
    });
    expect(text((await provider.get("db", { version: "" })).value)).toBe("x");
    expect(provider.locate!("openai/api_key")).toBe("environment variable APP_OPENAI__API_KEY");
    expect(provider.locate!("Bad.Name")).toMatch(/^no environment variable \(env secret names are/);
    expect(await provider.health()).toEqual({ ok: true });
    expect(await failure(provider.get("Bad.Name"))).toMatchObject({ code: Code.NotFound });
  });

  it("reads process.env by default", async () => {
    process.env["PB_SECRET_UNIT_TEST_ONLY"] = "from-process";
    try {
      expect(text((await createEnvSecretProvider().get("unit_test_only")).value)).toBe("from-process");
    } finally {
      delete process.env["PB_SECRET_UNIT_TEST_ONLY"];
    }
  });
});

describe("lazy provider details", () => {
  it("getMany, health and close go to the loaded provider", async () => {
    let closed = 0;
    const inner = Object.assign(createCountingProvider({ a: "1" }), { close: async () => void closed++ });
    const lazy = createLazySecretProvider("counting", async () => inner);
    await lazy.close!(); // never loaded: nothing to close
    expect(closed).toBe(0);
    expect((await lazy.getMany([{ name: "a", version: "", optional: false }])).map((s) => s.name)).toEqual(["a"]);
    expect(await lazy.health()).toEqual({ ok: true });
    await lazy.close!();
    expect(closed).toBe(1);
  });

  it("closing a loaded provider that has no close is fine", async () => {
    const lazy = createLazySecretProvider("env", async () => createEnvSecretProvider({ env: { PB_SECRET_A: "1" } }));
    await lazy.get("a");
    await expect(lazy.close!()).resolves.toBeUndefined();
  });

  it("a provider that failed to load reports it in health and closes quietly", async () => {
    const lazy = createLazySecretProvider("odd", async () => Promise.reject(new Error("boom")));
    expect(await lazy.health()).toEqual({ ok: false, detail: "odd provider could not be loaded" });
    await expect(lazy.close!()).resolves.toBeUndefined();
  });

  it("only a missing peer package becomes FailedPrecondition; other load failures pass through", async () => {
    const fail = (code: string, message: string) => () => Promise.reject(Object.assign(new Error(message), { code }));
    await expect(importWithOptionalPeer(fail("MODULE_NOT_FOUND", "Cannot find module 'peer-x'"), "peer-x", "the x provider")).rejects.toMatchObject({
      code: Code.FailedPrecondition,
      rawMessage: "the x provider needs the optional package peer-x: npm install peer-x",
    });
    await expect(importWithOptionalPeer(fail("ERR_MODULE_NOT_FOUND", "Cannot find package 'other'"), "peer-x", "w")).rejects.toThrow("Cannot find package 'other'");
    await expect(importWithOptionalPeer(fail("EACCES", "peer-x unreadable"), "peer-x", "w")).rejects.toThrow("peer-x unreadable");
    expect(await importWithOptionalPeer(async () => 5, "peer-x", "w")).toBe(5);
  });
});

describe("resolveMany details", () => {
  it("accepts 256 needs and refuses 257, asking each need's version", async () => {
    const asked: unknown[] = [];
    const get = async (name: string, options?: { version?: string }) => {
      asked.push(options);
      return { name, version: options?.version ?? "", value: new Uint8Array() };
    };
    const needs = (n: number) => [...Array(n)].map((_, i) => ({ name: `n${i}`, version: i === 0 ? "4" : "", optional: false }));
    expect(await resolveMany(get, needs(256))).toHaveLength(256);
    expect(asked[0]).toEqual({ version: "4" });
    expect(asked[1]).toEqual({});
    await expect(resolveMany(get, needs(257))).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: "too many secrets in one call (257 > 256)",
    });
  });

  it("other failures of an optional need fail the call", async () => {
    const get = async (name: string) => Promise.reject(name === "gone" ? secretNotFound(name) : new SecretError("down", Code.Unavailable, name));
    await expect(resolveMany(get, [{ name: "gone", version: "", optional: true }])).resolves.toEqual([]);
    await expect(resolveMany(get, [{ name: "down", version: "", optional: true }])).rejects.toMatchObject({ code: Code.Unavailable });
  });
});
