import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, sep } from "node:path";
import { Code } from "@connectrpc/connect";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { createEnvSecretProvider, createFileSecretProvider, type SecretProvider } from "../../src/secrets/index.js";

/**
 * Issue 12, hole 5: a secret provider must never answer two different names with one stored
 * secret, or name-based policy (RBAC `secret:<name>`, secret scopes) is unsound: before the fix the
 * env provider read `app/admin/root`, `app/admin.root` and `app-admin/root` all from one variable.
 *
 * The properties run the providers themselves: each stored secret holds a value unique to its
 * storage place, so two accepted names that read the same value reached the same place.
 */
const COLLIDING = ["app/admin/root", "app/admin.root", "app-admin/root", "APP/ADMIN/ROOT", "app_admin/root", "app/admin_root"];

/** Names over an alphabet rich in separators, upper case and odd characters, so collisions are tried. */
const nameChar = fc.constantFrom(..."ab1_/.-:#A".split(""), "\uD800", "\uDC00", "é", "e\u0301");
const name = fc.string({ unit: nameChar, minLength: 1, maxLength: 7 });
/** Names near the accepted form (segments of `ab1_` joined by `/`), where the old mapping collided most. */
const nearName = fc
  .array(fc.string({ unit: fc.constantFrom(..."ab1_".split("")), minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 })
  .map((segments) => segments.join("/"));
const names = fc.uniqueArray(fc.oneof(name, nearName), { minLength: 2, maxLength: 12 });

/**
 * For every set of distinct names: the values the accepted ones read are distinct. `store` gives a
 * provider where every place a name could reach holds a value unique to that place.
 */
async function assertInjective(provider: (candidates: string[]) => Promise<SecretProvider>, minimumAccepted: number) {
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(names, async (candidates) => {
      const p = await provider(candidates);
      const seen = new Map<string, string>();
      for (const n of candidates) {
        const value = await p.get(n).then(
          (s) => new TextDecoder().decode(s.value),
          (e: { code?: Code }) => {
            // Refused (InvalidArgument) or absent (NotFound: the file system could not hold it) is fine.
            expect([Code.InvalidArgument, Code.NotFound]).toContain(e.code);
            return undefined;
          },
        );
        if (value === undefined) continue;
        accepted++;
        expect(seen.get(value), `"${n}" and "${seen.get(value)}" read one stored secret`).toBeUndefined();
        seen.set(value, n);
      }
    }),
    { numRuns: 200 },
  );
  // The property must not pass by refusing everything.
  expect(accepted).toBeGreaterThanOrEqual(minimumAccepted);
}

describe("env provider: distinct names never read one variable", () => {
  it("serves the names that used to share a variable from distinct variables, refusing the rest", async () => {
    const env: Record<string, string> = {};
    const provider = createEnvSecretProvider({ env });
    const keyOf = async (n: string) => {
      // Find the variable a name reads by planting a value in every candidate variable.
      for (const k of Object.keys(env)) delete env[k];
      for (const k of ["PB_SECRET_APP_ADMIN_ROOT", "PB_SECRET_APP__ADMIN__ROOT", "PB_SECRET_APP__ADMIN_ROOT", "PB_SECRET_APP_ADMIN__ROOT"]) env[k] = k;
      return provider.get(n).then(
        (s) => new TextDecoder().decode(s.value),
        (e: { code: Code }) => e.code,
      );
    };
    const keys = await Promise.all(COLLIDING.map(keyOf));
    const served = keys.filter((k) => typeof k === "string");
    expect(new Set(served).size).toBe(served.length);
    // The three names: at most one has a variable.
    expect(keys.slice(0, 3).filter((k) => typeof k === "string").length).toBeLessThanOrEqual(1);
  });

  it("property: distinct accepted names read distinct variables", async () => {
    // Every variable holds its own name as value: equal values mean the same variable.
    const everyVariable = new Proxy({} as Record<string, string | undefined>, {
      get: (_t, key) => (typeof key === "string" && key.startsWith("PB_SECRET_") ? key : undefined),
    });
    const provider = createEnvSecretProvider({ env: everyVariable });
    await assertInjective(async () => provider, 100); // ~300 accepted per run (measured)
  });
});

describe("file provider: distinct names never read one file", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("property (directory): distinct accepted names read distinct files", async () => {
    // One directory per run, with a file for every candidate that the file system can hold.
    await assertInjective(async (candidates) => {
      const root = mkdtempSync(join(tmpdir(), "pb-secret-names-"));
      dirs.push(root);
      for (const n of candidates) {
        const path = join(root, ...n.split("/"));
        // A candidate with `..` segments would land outside this root (the provider refuses such names anyway).
        if (!path.startsWith(root + sep)) continue;
        try {
          mkdirSync(dirname(path), { recursive: true });
          writeFileSync(path, `${path}:${Math.random()}`, { flag: "wx" });
        } catch {
          // Not a valid file name, already a directory, or the same file as an earlier name (kept).
        }
      }
      return createFileSecretProvider({ path: root });
    }, 200); // ~750 accepted per run (measured)
  });

  it("property (JSON document): distinct accepted names read distinct entries", async () => {
    // Documents over keys that invite aliases (`a/b` exact vs nested, lone `value`, `#`), with a value
    // unique to each leaf, so two names reading the same bytes read the same entry.
    const key = fc.constantFrom("a", "a", "b", "b", "value", "a/b", "c#d");
    const tree = fc.letrec<{ node: unknown }>((tie) => ({
      node: fc.oneof({ depthSize: "small", maxDepth: 3 }, fc.constant("leaf"), fc.dictionary(key, tie("node"), { minKeys: 1, maxKeys: 3 })),
    })).node;
    const document = fc.dictionary(key, tree, { minKeys: 1, maxKeys: 4 });
    const docName = fc.oneof(
      fc.array(fc.constantFrom("a", "b", "value", "c", "d", "/", "#"), { minLength: 1, maxLength: 5 }).map((parts) => parts.join("")),
      fc
        .tuple(fc.array(fc.constantFrom("a", "b", "value"), { minLength: 1, maxLength: 2 }), fc.option(fc.constantFrom("a", "b", "value")))
        .map(([segments, field]) => segments.join("/") + (field === null ? "" : `#${field}`)),
    );
    const label = (value: unknown, at: string): unknown =>
      value !== null && typeof value === "object"
        ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, label(v, `${at}/${JSON.stringify(k)}`)]))
        : at;
    const root = mkdtempSync(join(tmpdir(), "pb-secret-doc-"));
    dirs.push(root);
    let run = 0;
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(document, fc.uniqueArray(docName, { minLength: 2, maxLength: 12 }), async (doc, candidates) => {
        const path = join(root, `doc-${run++}.json`);
        writeFileSync(path, JSON.stringify(label(doc, "")));
        const provider = createFileSecretProvider({ path });
        const seen = new Map<string, string>();
        for (const n of candidates) {
          const value = await provider.get(n).then(
            (secret) => new TextDecoder().decode(secret.value),
            (e: { code?: Code }) => {
              expect([Code.InvalidArgument, Code.NotFound]).toContain(e.code);
              return undefined;
            },
          );
          if (value === undefined) continue;
          accepted++;
          expect(seen.get(value), `"${n}" and "${seen.get(value)}" read one entry of ${JSON.stringify(doc)}`).toBeUndefined();
          seen.set(value, n);
        }
      }),
      { numRuns: 300 },
    );
    // About 100 names are accepted per run (measured); the floor keeps the property from passing vacuously.
    expect(accepted).toBeGreaterThanOrEqual(50);
  });

  it("refuses names the file system would fold onto one file", async () => {
    const root = mkdtempSync(join(tmpdir(), "pb-secret-names-"));
    dirs.push(root);
    writeFileSync(join(root, "\uFFFD"), "replacement");
    const provider = createFileSecretProvider({ path: root });
    // Lone surrogates become U+FFFD on the way to the file system.
    await expect(provider.get("\uD800")).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(provider.get("\uDC00")).rejects.toMatchObject({ code: Code.InvalidArgument });
  });
});
