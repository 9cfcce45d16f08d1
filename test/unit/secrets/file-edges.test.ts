import { Code } from "@connectrpc/connect";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createFileSecretProvider } from "../../../src/secrets/file.js";
import { failure, text } from "../../helpers/secrets.js";

describe("file secret provider edges", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "pb-secrets-edges-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const doc = async (content: unknown, file = "s.json") => {
    const path = join(dir, file);
    await writeFile(path, typeof content === "string" ? content : JSON.stringify(content));
    return createFileSecretProvider({ path });
  };

  it("needs a path", () => {
    expect(() => createFileSecretProvider({ path: "" })).toThrow(new TypeError("file secret provider needs a path"));
  });

  describe("a directory of files", () => {
    it("serves the mounted version when asked for it by name, and refuses another naming it", async () => {
      await writeFile(join(dir, "k"), "v");
      const provider = createFileSecretProvider({ path: dir });
      const current = await provider.get("k");
      expect(current.version).toBe(String(Math.trunc((await stat(join(dir, "k"))).mtimeMs)));
      expect(text((await provider.get("k", { version: current.version })).value)).toBe("v");
      expect(await failure(provider.get("k", { version: "1" }))).toMatchObject({
        code: Code.NotFound,
        rawMessage: 'secret "k": version "1" not available (only the mounted one is)',
      });
    });

    it("refuses names not in NFC, with a backslash, or with dot segments, saying why", async () => {
      await writeFile(join(dir, "caf\u00e9"), "nfc");
      const provider = createFileSecretProvider({ path: dir });
      expect(text((await provider.get("caf\u00e9")).value)).toBe("nfc");
      expect(await failure(provider.get("cafe\u0301"))).toMatchObject({
        code: Code.InvalidArgument,
        rawMessage: 'invalid secret name "cafe\u0301": not in Unicode normalisation form C',
      });
      for (const name of ["a\\b", ".k", "a/.b", "a//b", "a/"]) {
        expect(await failure(provider.get(name)), name).toMatchObject({
          code: Code.InvalidArgument,
          rawMessage: `invalid secret name ${JSON.stringify(name)}: path segments must be non-empty and not start with '.'`,
        });
      }
    });

    it("a missing directory is Unavailable; a name resolving to the directory itself or above it is refused as outside", async () => {
      const gone = createFileSecretProvider({ path: join(dir, "nope") });
      expect(await failure(gone.get("k"))).toMatchObject({ code: Code.Unavailable, rawMessage: 'secret "k": file provider unavailable: secret directory missing' });
      expect(await failure(gone.list())).toMatchObject({ code: Code.Unavailable, rawMessage: "file provider unavailable: secret directory unreadable" });
      expect(await gone.health()).toEqual({ ok: false, detail: "secret path unreadable" });

      const inner = join(dir, "mount");
      await mkdir(inner);
      await symlink(".", join(inner, "self"));
      await symlink("..", join(inner, "up"));
      await writeFile(join(dir, "outside"), "x");
      await symlink("../outside", join(inner, "escape"));
      const provider = createFileSecretProvider({ path: inner });
      for (const name of ["self", "up", "escape"]) {
        expect(await failure(provider.get(name)), name).toMatchObject({
          code: Code.NotFound,
          rawMessage: `secret "${name}": resolves outside the secret directory`,
        });
      }
      expect(await failure(provider.get("absent"))).toMatchObject({ code: Code.NotFound, rawMessage: 'secret "absent": not found' });
    });

    it("only regular files are secrets: a FIFO is not read", async () => {
      const made = spawnSync("mkfifo", [join(dir, "pipe")]);
      expect(made.status).toBe(0);
      const provider = createFileSecretProvider({ path: dir });
      expect(await failure(provider.get("pipe"))).toMatchObject({ code: Code.NotFound, rawMessage: 'secret "pipe": not found' });
    });

    it("reads a file of exactly maxBytes and refuses one byte more, naming the limit", async () => {
      await writeFile(join(dir, "ten"), "x".repeat(10));
      await writeFile(join(dir, "eleven"), "x".repeat(11));
      const provider = createFileSecretProvider({ path: dir, maxBytes: 10 });
      expect(text((await provider.get("ten")).value)).toBe("x".repeat(10));
      expect(await failure(provider.get("eleven"))).toMatchObject({
        code: Code.Unavailable,
        rawMessage: 'secret "eleven": file provider unavailable: file larger than 10 bytes',
      });
    });

    it("versions: the timestamped directory of a ..data layout, else the file's mtime (nested or look-alike names too)", async () => {
      await mkdir(join(dir, "nested"));
      await writeFile(join(dir, "nested", "k"), "n");
      await writeFile(join(dir, "..odd"), "o");
      await symlink("..odd", join(dir, "alias"));
      const provider = createFileSecretProvider({ path: dir });
      expect((await provider.get("nested/k")).version).toMatch(/^\d+$/);
      expect((await provider.get("alias")).version).toMatch(/^\d+$/);
    });

    it("locates files, serves getMany, and lists regular files sorted, skipping dot entries, dangling links, and beyond 8 levels", async () => {
      const names = ["m", "b", "z", "a", "q", "c", "y", "d", "x", "e", "w", "f", "v", "g", "u", "h"];
      for (const name of names) await writeFile(join(dir, name), name);
      await writeFile(join(dir, ".hidden"), "h");
      await symlink(join(dir, "gone"), join(dir, "dangling"));
      let deep = dir;
      const segments: string[] = [];
      for (let i = 0; i < 10; i++) {
        segments.push(`l${i}`);
        deep = join(deep, `l${i}`);
        await mkdir(deep);
        await writeFile(join(deep, "f"), "deep");
      }
      const provider = createFileSecretProvider({ path: dir });
      expect(provider.locate!("a/b#f")).toBe(`file ${join(dir, "a", "b")}`);
      const listed = await provider.list();
      const levels = [...Array(8)].map((_, i) => `${segments.slice(0, i + 1).join("/")}/f`);
      expect(listed).toEqual([...names].sort().concat(levels).sort());
      expect(listed).not.toContain(`${segments.slice(0, 9).join("/")}/f`);
      const many = await provider.getMany([
        { name: "a", version: "", optional: false },
        { name: "absent", version: "", optional: true },
      ]);
      expect(many.map((s) => text(s.value))).toEqual(["a"]);
      expect(await provider.health()).toEqual({ ok: true });
    });

    it("lists in code-unit order, as the other providers do, not the file system's byte order", async () => {
      for (const name of ["\u{ff5e}", "\u{1f511}", "b"]) await writeFile(join(dir, name), name);
      expect(await createFileSecretProvider({ path: dir }).list()).toEqual(["b", "\u{1f511}", "\u{ff5e}"]);
    });

    it("lists at most 10 000 files", async () => {
      await Promise.all([...Array(10_001)].map((_, i) => writeFile(join(dir, `f${i}`), "")));
      expect(await createFileSecretProvider({ path: dir }).list()).toHaveLength(10_000);
    });

    it("health: a path that is a plain file is no directory", async () => {
      await writeFile(join(dir, "plain"), "x");
      expect(await createFileSecretProvider({ path: join(dir, "plain") }).health()).toEqual({ ok: false, detail: "secret path is not a directory" });
    });
  });

  describe("a JSON or YAML document", () => {
    it("a missing, oversized, unreadable, malformed or non-mapping file is Unavailable saying which, without a name", async () => {
      const missing = createFileSecretProvider({ path: join(dir, "none.json") });
      expect(await failure(missing.get("k"))).toMatchObject({ code: Code.Unavailable, rawMessage: "file provider unavailable: secret file missing" });
      expect(await missing.health()).toEqual({ ok: false, detail: "secret path unreadable" });

      await writeFile(join(dir, "ten.json"), '{"k":"123"}'); // 11 bytes
      expect(text((await createFileSecretProvider({ path: join(dir, "ten.json"), maxBytes: 11 }).get("k")).value)).toBe("123");
      expect(await failure(createFileSecretProvider({ path: join(dir, "ten.json"), maxBytes: 10 }).get("k"))).toMatchObject({
        rawMessage: "file provider unavailable: file larger than 10 bytes",
      });

      await mkdir(join(dir, "dir.json"));
      expect(await failure(createFileSecretProvider({ path: join(dir, "dir.json") }).get("k"))).toMatchObject({
        rawMessage: "file provider unavailable: secret file unreadable",
      });

      // YAML that is no JSON: a .json file is parsed as JSON only.
      const yamlInJson = await doc("k: v\n", "y.json");
      expect(await failure(yamlInJson.get("k"))).toMatchObject({ code: Code.Unavailable, rawMessage: "file provider unavailable: secret file is not valid json" });
      expect(await yamlInJson.health()).toEqual({ ok: false, detail: "file provider unavailable: secret file is not valid json" });
      expect(await failure((await doc("k: [", "bad.yaml")).get("k"))).toMatchObject({
        rawMessage: "file provider unavailable: secret file is not valid yaml",
      });
      expect(await failure((await doc([1, 2])).get("k"))).toMatchObject({ rawMessage: "file provider unavailable: secret file is not a mapping" });
      expect(await failure((await doc("just text", "t.yaml")).get("k"))).toMatchObject({
        rawMessage: "file provider unavailable: secret file is not a mapping",
      });
    });

    it("reads .yml and upper-case extensions, locates keys, serves getMany", async () => {
      const yml = await doc("a:\n  b: from-yml\n", "s.yml");
      expect(text((await yml.get("a/b")).value)).toBe("from-yml");
      expect(yml.locate!("a/b#f")).toBe(`key "a/b" of file ${join(dir, "s.yml")}`);
      const upper = await doc({ k: "from-JSON" }, "S.JSON");
      expect(text((await upper.get("k")).value)).toBe("from-JSON");
      expect((await upper.get("k")).version).toMatch(/^\d+$/);
      expect((await upper.getMany([{ name: "k", version: "", optional: false }])).map((s) => text(s.value))).toEqual(["from-JSON"]);
      expect(await upper.health()).toEqual({ ok: true });
    });

    it("null entries are absent; scalars take no field", async () => {
      const provider = await doc({ nothing: null, s: "abc", n: 5 });
      expect(await failure(provider.get("nothing"))).toMatchObject({ code: Code.NotFound, rawMessage: 'secret "nothing": not found' });
      expect(await failure(provider.get("s#0"))).toMatchObject({ code: Code.NotFound, rawMessage: 'secret "s#0": field "0" not present' });
      expect(await failure(provider.get("n#x"))).toMatchObject({ code: Code.NotFound, rawMessage: 'secret "n#x": field "x" not present' });
      expect(text((await provider.get("s")).value)).toBe("abc");
    });

    it("one name per entry: `x/value` and `x#value` are refused where `x` alone reads its lone value", async () => {
      const provider = await doc({
        x: { value: "lone" },
        deep: { y: { value: "deep-lone" } },
        both: { value: "v", other: "o" },
        value: "top",
        "k/value": "exact",
      });
      expect(text((await provider.get("x")).value)).toBe("lone");
      expect(await failure(provider.get("x/value"))).toMatchObject({
        code: Code.InvalidArgument,
        rawMessage: 'invalid secret name "x/value": the same entry is named "x"',
      });
      expect(await failure(provider.get("deep/y/value"))).toMatchObject({
        rawMessage: 'invalid secret name "deep/y/value": the same entry is named "deep/y"',
      });
      expect(await failure(provider.get("x#value"))).toMatchObject({
        code: Code.InvalidArgument,
        rawMessage: 'invalid secret name "x#value": the same entry is named "x"',
      });
      expect(await failure(provider.get("deep/y#value"))).toMatchObject({
        rawMessage: 'invalid secret name "deep/y#value": the same entry is named "deep/y"',
      });
      // Not aliases: a `value` beside other keys, a top-level `value`, an exact key ending in /value.
      expect(text((await provider.get("both/value")).value)).toBe("v");
      expect(await failure(provider.get("both#value"))).toMatchObject({
        rawMessage: 'invalid secret name "both#value": the same entry is named "both/value"',
      });
      expect(text((await provider.get("value")).value)).toBe("top");
      expect(text((await provider.get("k/value")).value)).toBe("exact");
      expect(await failure(provider.get("x#other"))).toMatchObject({ code: Code.NotFound });
    });

    it("`a#b` reads the nested field when `a/b` is a different, exact key", async () => {
      const provider = await doc({ "a/b": "exact", a: { b: "nested" } });
      expect(text((await provider.get("a/b")).value)).toBe("exact");
      expect(text((await provider.get("a#b")).value)).toBe("nested");
    });

    it("lists a nested key holding '/' by the name that reads it: its parent's path, '#', the key", async () => {
      const provider = await doc({ a: { "b/c": { f: 1 }, "d/e": "v", plain: "p" }, x: { y: { "z/w": "deep" } } });
      const names = await provider.list();
      expect(names).toEqual(["a#b/c", "a#d/e", "a/plain", "x/y#z/w"]);
      // Every listed name reads.
      for (const name of names) await provider.get(name);
      expect(text((await provider.get("x/y#z/w")).value)).toBe("deep");
    });

    it("lists nested keys up to 8 levels (deeper objects as one entry) and at most 10 000 names", async () => {
      let nested: unknown = "leaf";
      for (let i = 9; i >= 0; i--) nested = { [`l${i}`]: nested };
      const provider = await doc({ ...(nested as object), "p/q": { f: 1, g: 2 }, "r/s": "exact" });
      expect(await provider.list()).toEqual(["l0/l1/l2/l3/l4/l5/l6/l7/l8", "p/q#f", "p/q#g", "r/s"]);
      const big = Object.fromEntries([...Array(10_001)].map((_, i) => [`k${i}`, "v"]));
      expect(await (await doc(big, "big.json")).list()).toHaveLength(10_000);
      const nestedBig = { n: Object.fromEntries([...Array(10_001)].map((_, i) => [`k${i}`, "v"])) };
      expect(await (await doc(nestedBig, "nested-big.json")).list()).toHaveLength(10_000);
    });
  });
});
