import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { hostConfigJsonSchema, hostConfigMarkdown } from "../../../src/cli/config-docs.js";

describe("config reference", () => {
  it("docs/config.md is current (regenerate: npx tsx src/cli/main.ts config docs > docs/config.md)", () => {
    expect(readFileSync(resolve(import.meta.dirname, "../../../docs/config.md"), "utf8")).toBe(hostConfigMarkdown());
  });

  it("the JSON Schema refuses unknown keys and documents every top-level key", () => {
    const schema = hostConfigJsonSchema() as { additionalProperties?: unknown; properties?: Record<string, { description?: string }> };
    expect(schema.additionalProperties).toBe(false);
    for (const [key, property] of Object.entries(schema.properties ?? {})) expect(property.description, key).toBeDefined();
  });
});
