/**
 * The Python verification recipe printed in docs/protocol.md, run as written by a real python3
 * against the known-answer vectors: a foreign plugin author who copies it gets the right answers.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url);

function pythonSnippet(): string {
  const doc = readFileSync(new URL("docs/protocol.md", root), "utf8");
  const start = doc.indexOf("Verification in Python");
  const match = /```python\n([\s\S]*?)```/.exec(doc.slice(start));
  if (start < 0 || !match) throw new Error("docs/protocol.md has no Python verification snippet");
  return match[1]!;
}

describe("docs/protocol.md caller-header recipe in Python", () => {
  it("accepts every valid vector with its claims and refuses every invalid one", () => {
    const dir = mkdtempSync(join(tmpdir(), "pb-py-vectors-"));
    try {
      const driver = `${pythonSnippet()}
import json, sys
v = json.load(open(sys.argv[1]))["callerHeader"]
key = bytes.fromhex(v["keyHex"])
print(json.dumps({
  "valid": [verify_caller(x["header"], key, x["path"], x["nowMs"]) for x in v["valid"]],
  "invalid": [verify_caller(x["header"], key, x["path"], x["nowMs"]) for x in v["invalid"]],
}))
`;
      writeFileSync(join(dir, "verify.py"), driver);
      const vectorsPath = new URL("test/fixtures/known-answers/vectors.json", root).pathname;
      const out = JSON.parse(execFileSync("python3", [join(dir, "verify.py"), vectorsPath], { encoding: "utf8" })) as {
        valid: unknown[];
        invalid: unknown[];
      };
      const vectors = JSON.parse(readFileSync(vectorsPath, "utf8")) as {
        callerHeader: { valid: { claims: unknown }[]; invalid: unknown[] };
      };
      expect(out.valid).toEqual(vectors.callerHeader.valid.map((v) => v.claims));
      expect(out.invalid).toEqual(vectors.callerHeader.invalid.map(() => null));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
