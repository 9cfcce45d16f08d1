import { Code } from "@connectrpc/connect";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createChainSecretProvider, createSecretProvider, type SecretCache } from "../../../src/secrets/index.js";
import { createCountingProvider } from "./fake-provider.js";
import { text } from "../../helpers/secrets.js";

describe("chain secret provider", () => {
  it("falls through NotFound to the next provider", async () => {
    const first = createCountingProvider({ a: "from-first" });
    const second = createCountingProvider({ a: "from-second", b: "from-second" });
    const chain = createChainSecretProvider([first, second]);
    expect(text((await chain.get("a")).value)).toBe("from-first");
    expect(text((await chain.get("b")).value)).toBe("from-second");
    await expect(chain.get("c")).rejects.toMatchObject({ code: Code.NotFound, secretName: "c" });
    expect(await chain.list()).toEqual(["a", "b"]);
  });

  it("stops at any other error rather than serving a later provider's value", async () => {
    const first = createCountingProvider({});
    first.failWith = Code.Unavailable;
    const second = createCountingProvider({ a: "later" });
    const chain = createChainSecretProvider([first, second]);
    await expect(chain.get("a")).rejects.toMatchObject({ code: Code.Unavailable });
    expect(second.totalCalls()).toBe(0);
    const health = await chain.health();
    expect(health.ok).toBe(false);
    expect(health.detail).toContain("counting");
  });

  it("needs at least one provider", () => {
    expect(() => createChainSecretProvider([])).toThrow(TypeError);
  });
});

describe("createSecretProvider (config)", () => {
  it("builds a cached chain of env and file from plain data", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pb-cfg-"));
    try {
      await writeFile(join(dir, "db"), "from-file");
      const provider = createSecretProvider({
        kind: "chain",
        cache: { ttlMs: 1000 },
        providers: [
          { kind: "env", env: { PB_SECRET_API: "from-env" } },
          { kind: "file", path: dir },
        ],
      });
      expect(provider.kind).toBe("chain(env,file)");
      expect(text((await provider.get("api")).value)).toBe("from-env");
      expect(text((await provider.get("db")).value)).toBe("from-file");
      await provider.get("db");
      expect((provider as SecretCache).stats().hits).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("caches remote kinds by default, not local ones unless asked; rejects unknown kinds", () => {
    const vault = createSecretProvider({ kind: "vault", address: "http://127.0.0.1:1", token: "t", renewToken: false });
    expect("stats" in vault).toBe(true);
    expect("stats" in createSecretProvider({ kind: "env" })).toBe(false);
    expect("stats" in createSecretProvider({ kind: "vault", address: "http://127.0.0.1:1", token: "t", cache: false })).toBe(false);
    expect(() => createSecretProvider({ kind: "nope" } as never)).toThrow(TypeError);
    expect(() => createSecretProvider({ kind: "vault", address: "not a url", token: "t" })).toThrow(TypeError);
    expect(() => createSecretProvider({ kind: "vault", address: "http://x", token: "" })).toThrow(TypeError);
    expect(() => createSecretProvider({ kind: "file", path: "" })).toThrow(TypeError);
  });
});
