import { z } from "zod";
import { hostConfigSchema } from "./host-config-schema.js";

type JsonSchema = {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  additionalProperties?: JsonSchema | boolean;
  $ref?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  [key: string]: unknown;
};

/** The JSON Schema editors validate `plugboard host` files with (`plugboard config schema`). */
export function hostConfigJsonSchema(): JsonSchema {
  return {
    ...(z.toJSONSchema(hostConfigSchema, { io: "input" }) as JsonSchema),
    $id: "https://plugboard.dev/schemas/host-config.json",
    title: "plugboard host configuration",
  };
}

/** docs/config.md, generated from the schema (`plugboard config docs > docs/config.md`; a test keeps it current). */
export function hostConfigMarkdown(): string {
  const schema = hostConfigJsonSchema();
  const rows: string[] = [];
  walk(schema, "", rows, true);
  return [
    "# `plugboard host` configuration",
    "",
    "<!-- Generated from src/cli/host-config-schema.ts by `plugboard config docs > docs/config.md`; do not edit by hand. -->",
    "",
    "`plugboard host --config host.yaml` reads this file (YAML or JSON). Unknown keys are errors everywhere, and every",
    "error names the file, the key path and what was expected. Relative paths resolve against the config file's folder.",
    "Editors can validate the file with the JSON Schema `plugboard config schema` prints (e.g. with the YAML language",
    "server: `# yaml-language-server: $schema=./host-config.schema.json` after `plugboard config schema > host-config.schema.json`).",
    "",
    "On SIGHUP or `plugboard reload --config host.yaml`, the host validates the file again and swaps RBAC rules, rate limits",
    "and the plugin list without a restart (docs/operations.md, Reloading); the other keys need a restart.",
    "",
    "| Key | Type | Default | Description |",
    "| --- | --- | --- | --- |",
    ...rows,
    "",
  ].join("\n");
}

function walk(node: JsonSchema, path: string, rows: string[], required: boolean): void {
  if (path !== "") rows.push(`| \`${path}\`${required ? " (required)" : ""} | ${typeOf(node)} | ${node.default === undefined ? "" : `\`${JSON.stringify(node.default)}\``} | ${escape(node.description ?? "")} |`);
  if (node.properties) {
    for (const [key, child] of Object.entries(node.properties)) walk(child, path === "" ? key : `${path}.${key}`, rows, node.required?.includes(key) ?? false);
  }
  if (node.items?.properties || node.items?.oneOf) walk(node.items, `${path}[]`, rows, false);
  if (node.additionalProperties && typeof node.additionalProperties === "object" && node.additionalProperties.properties) walk(node.additionalProperties, `${path}.<name>`, rows, false);
  for (const member of node.oneOf ?? node.anyOf ?? []) {
    if (!member.properties) continue;
    const kind = member.properties["kind"]?.const;
    if (kind === undefined) {
      // A mapping alternative (e.g. `cache: true | { ttlMs }`): its keys, under the same path.
      for (const [key, child] of Object.entries(member.properties)) walk(child, `${path}.${key}`, rows, member.required?.includes(key) ?? false);
      continue;
    }
    const { kind: _discriminator, ...rest } = member.properties;
    walk({ ...member, properties: rest, description: `with kind: ${String(kind)}` }, `${path} (kind: ${String(kind)})`, rows, false);
  }
}

function typeOf(node: JsonSchema): string {
  if (node.$ref) return "secret provider (as above)";
  if (node.const !== undefined) return `\`${JSON.stringify(node.const)}\``;
  if (node.enum) return node.enum.map((v) => `\`${String(v)}\``).join(" \\| ");
  const alternatives = node.oneOf ?? node.anyOf;
  if (alternatives) return alternatives.map((a) => (a.properties?.["kind"]?.const !== undefined ? `kind \`${String(a.properties["kind"].const)}\`` : typeOf(a))).join(" \\| ");
  if (node.type === "array") return `list of ${node.items ? typeOf(node.items) : "values"}`;
  if (node.type === "object") return node.properties ? "mapping" : "mapping of strings";
  const range = [
    node.minimum !== undefined ? `≥ ${node.minimum}` : node.exclusiveMinimum !== undefined ? `> ${node.exclusiveMinimum}` : "",
    node.maximum !== undefined && node.maximum < Number.MAX_SAFE_INTEGER ? `≤ ${node.maximum}` : node.exclusiveMaximum !== undefined ? `< ${node.exclusiveMaximum}` : "",
  ].filter(Boolean);
  return `${node.type ?? "any"}${range.length > 0 ? ` (${range.join(", ")})` : ""}`;
}

const escape = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");
