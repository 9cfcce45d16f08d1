import { Code } from "@connectrpc/connect";
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createFileSecretProvider, createSecretCache } from "../../../src/secrets/index.js";
import { text } from "../../helpers/secrets.js";

/** Lays out a directory the way the kubelet mounts a Secret: key → ..data/key, ..data → ..<timestamp>. */
async function kubeMount(dir: string, stamp: string, files: Record<string, string>) {
  const versionDir = join(dir, `..${stamp}`);
  await mkdir(versionDir, { recursive: true });
  for (const [key, value] of Object.entries(files)) await writeFile(join(versionDir, key), value);
  // Atomic swap, as the kubelet does: new symlink, then rename over ..data.
  await symlink(`..${stamp}`, join(dir, "..data_tmp"));
  await rename(join(dir, "..data_tmp"), join(dir, "..data"));
  for (const key of Object.keys(files)) {
    await symlink(join("..data", key), join(dir, key)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "EEXIST") throw e;
    });
  }
}

describe("file secret provider", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "pb-secrets-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads one file per secret, nested paths included, and lists them", async () => {
    await writeFile(join(dir, "api_key"), "plain-key");
    await mkdir(join(dir, "openai"));
    await writeFile(join(dir, "openai", "api_key"), "nested-key");
    await writeFile(join(dir, ".hidden"), "no");
    const provider = createFileSecretProvider({ path: dir });
    expect(text((await provider.get("api_key")).value)).toBe("plain-key");
    expect(text((await provider.get("openai/api_key")).value)).toBe("nested-key");
    expect(await provider.list()).toEqual(["api_key", "openai/api_key"]);
    expect(await provider.health()).toEqual({ ok: true });
  });

  it("follows the Kubernetes ..data layout and picks up a rotation on the next read", async () => {
    await kubeMount(dir, "2026_11_23_09_00_00.000000001", { password: "pw-one", user: "app" });
    const provider = createFileSecretProvider({ path: dir });
    const first = await provider.get("password");
    expect(text(first.value)).toBe("pw-one");
    expect(first.version).toBe("..2026_11_23_09_00_00.000000001");
    expect(await provider.list()).toEqual(["password", "user"]);

    await kubeMount(dir, "2026_11_23_10_00_00.000000002", { password: "pw-two", user: "app" });
    const second = await provider.get("password");
    expect(text(second.value)).toBe("pw-two");
    expect(second.version).toBe("..2026_11_23_10_00_00.000000002");
    // Asking for the version that is no longer mounted is NotFound.
    await expect(provider.get("password", { version: first.version })).rejects.toMatchObject({ code: Code.NotFound });
  });

  it("through the cache, a rotated mount is seen once the TTL passes", async () => {
    await kubeMount(dir, "a", { token: "t-one" });
    let clock = 0;
    const cache = createSecretCache(createFileSecretProvider({ path: dir }), { ttlMs: 1000, now: () => clock });
    expect(text((await cache.get("token")).value)).toBe("t-one");
    await kubeMount(dir, "b", { token: "t-two" });
    expect(text((await cache.get("token")).value)).toBe("t-one");
    clock += 1001;
    expect(text((await cache.get("token")).value)).toBe("t-two");
  });

  it("refuses traversal, dot segments and symlinks leading outside the directory", async () => {
    const outside = await mkdtemp(join(tmpdir(), "pb-outside-"));
    try {
      await writeFile(join(outside, "stolen"), "outside-value");
      await symlink(join(outside, "stolen"), join(dir, "escape"));
      await kubeMount(dir, "x", { k: "v" });
      const provider = createFileSecretProvider({ path: dir });
      await expect(provider.get("../etc/passwd")).rejects.toMatchObject({ code: Code.InvalidArgument });
      await expect(provider.get("..data/k")).rejects.toMatchObject({ code: Code.InvalidArgument });
      await expect(provider.get("a//b")).rejects.toMatchObject({ code: Code.InvalidArgument });
      await expect(provider.get("escape")).rejects.toMatchObject({ code: Code.NotFound });
      await expect(provider.get("missing")).rejects.toMatchObject({ code: Code.NotFound });
      await mkdir(join(dir, "adir"));
      await expect(provider.get("adir")).rejects.toMatchObject({ code: Code.NotFound });
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it("refuses files over maxBytes", async () => {
    await writeFile(join(dir, "big"), "x".repeat(100));
    const provider = createFileSecretProvider({ path: dir, maxBytes: 10 });
    await expect(provider.get("big")).rejects.toMatchObject({ code: Code.Unavailable });
  });

  it("reads a JSON document: exact keys, nested objects, fields; re-read after a change", async () => {
    const file = join(dir, "secrets.json");
    await writeFile(
      file,
      JSON.stringify({ "openai/api_key": "sk-1", db: { password: "pw", port: 5432 }, flag: true, "svc/creds": { user: "u" } }),
    );
    const provider = createFileSecretProvider({ path: file });
    expect(text((await provider.get("openai/api_key")).value)).toBe("sk-1");
    expect(text((await provider.get("db/password")).value)).toBe("pw");
    expect(text((await provider.get("db/port")).value)).toBe("5432");
    // One name per entry: `db#port` is `db/port`; an exact key with '/' takes its fields with '#'.
    await expect(provider.get("db#port")).rejects.toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringContaining('"db/port"') });
    expect(text((await provider.get("svc/creds#user")).value)).toBe("u");
    expect(text((await provider.get("flag")).value)).toBe("true");
    expect(JSON.parse(text((await provider.get("db")).value))).toEqual({ password: "pw", port: 5432 });
    await expect(provider.get("db/none")).rejects.toMatchObject({ code: Code.NotFound });
    await expect(provider.get("constructor")).rejects.toMatchObject({ code: Code.NotFound });
    expect(await provider.list()).toEqual(["db/password", "db/port", "flag", "openai/api_key", "svc/creds#user"]);

    await writeFile(file, JSON.stringify({ "openai/api_key": "sk-2" }));
    expect(text((await provider.get("openai/api_key")).value)).toBe("sk-2");
  });

  it("reads YAML, and a malformed document fails without quoting it", async () => {
    const file = join(dir, "secrets.yaml");
    await writeFile(file, "openai:\n  api_key: sk-yaml\n");
    const provider = createFileSecretProvider({ path: file });
    expect(text((await provider.get("openai/api_key")).value)).toBe("sk-yaml");

    await writeFile(file, "openai: [unclosed sk-leaky-value\n");
    const error = await provider.get("openai/api_key").catch((e: unknown) => e as Error);
    expect(error).toMatchObject({ code: Code.Unavailable });
    expect((error as Error).message).not.toContain("sk-leaky-value");
    expect((await provider.health()).ok).toBe(false);
  });
});
