import { readdirSync, readFileSync } from "node:fs";
import { expect, it } from "vitest";

// Every factory the docs show as an API (`createX(...)`) is importable from "plugboard" or "plugboard/sdk".
it("the factories docs/ and the README document are exported", async () => {
  const root = (await import("../../../src/index.js")) as Record<string, unknown>;
  const sdk = (await import("../../../src/sdk/index.js")) as Record<string, unknown>;
  // The optional integrations' own entry points: plugboard/redis, plugboard/secrets/aws, plugboard/secrets/vault.
  const subpaths = await Promise.all(
    ["../../../src/redis.js", "../../../src/secrets-aws.js", "../../../src/secrets-vault.js"].map(
      async (path) => (await import(path)) as Record<string, unknown>,
    ),
  );
  const texts = ["README.md", ...readdirSync("docs").filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)].map((file) => ({
    file,
    text: readFileSync(file, "utf8"),
  }));
  const missing: string[] = [];
  for (const { file, text } of texts) {
    for (const [, name] of text.matchAll(/`(create[A-Z][A-Za-z]*)\(/g)) {
      if (![root, sdk, ...subpaths].some((entry) => typeof entry[name!] === "function")) missing.push(`${file}: ${name}`);
    }
  }
  expect([...new Set(missing)]).toEqual([]);
});

// A package user has no src/: examples in the docs import the package's own entry points.
it("docs and the README import from plugboard / plugboard/sdk, never from the repository's src/", () => {
  const files = ["README.md", ...readdirSync("docs").filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
  const offending = files.flatMap((file) =>
    readFileSync(file, "utf8")
      .split("\n")
      .filter((line) => /from ["'](\.{1,2}\/)+src\//.test(line))
      .map((line) => `${file}: ${line.trim()}`),
  );
  expect(offending).toEqual([]);
});
