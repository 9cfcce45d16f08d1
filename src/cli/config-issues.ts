import type { z } from "zod";
import type { ConfigProblem } from "./config-fields.js";

type Issue = z.core.$ZodIssue;

/** `["plugins", 0, "restart"]` → `plugins[0].restart`. */
export function keyPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) out += typeof key === "number" ? `[${key}]` : out === "" ? String(key) : `.${String(key)}`;
  return out || "(root)";
}

const TYPE_NAMES: Record<string, string> = {
  object: "a mapping",
  array: "a list",
  number: "a number",
  int: "a whole number",
  string: "a string",
  boolean: "true or false",
  record: "a mapping",
};

const oneOf = (values: readonly unknown[]) => {
  const shown = values.map((v) => (typeof v === "string" ? v : JSON.stringify(v)));
  return shown.length <= 1 ? shown.join("") : `${shown.slice(0, -1).join(", ")} or ${shown.at(-1)}`;
};

/**
 * zod issues as config problems, each naming the key path and what was expected. `knownKeys` lists the
 * settings a mapping accepts, so a typo is answered with the right spelling.
 */
export function configProblems(issues: readonly Issue[], knownKeys: (path: readonly PropertyKey[]) => string[], base: readonly PropertyKey[] = []): ConfigProblem[] {
  return issues.flatMap((issue): ConfigProblem[] => {
    const path = [...base, ...issue.path];
    const field = keyPath(path);
    switch (issue.code) {
      case "unrecognized_keys": {
        const known = knownKeys(path);
        return issue.keys.map((key) => ({ field: keyPath([...path, key]), problem: `unknown setting (known: ${known.join(", ")})` }));
      }
      case "invalid_type": {
        const expected = TYPE_NAMES[issue.expected] ?? issue.expected;
        const missing = /received undefined/.test(issue.message);
        const what = issue.expected === "string" ? "a non-empty string" : expected;
        return [{ field, problem: missing ? `must be ${what} (it is missing)` : `must be ${what}` }];
      }
      case "too_small":
        if (issue.origin === "string") return [{ field, problem: "must be a non-empty string" }];
        if (issue.origin === "array") return [{ field, problem: `must list at least ${issue.minimum}` }];
        return [{ field, problem: `must be a number ${issue.inclusive ? "≥" : ">"} ${issue.minimum}` }];
      case "too_big":
        return [{ field, problem: `must be a number ${issue.inclusive ? "≤" : "<"} ${issue.maximum}` }];
      case "invalid_value":
        return [{ field, problem: `must be ${oneOf(issue.values)}` }];
      case "invalid_union": {
        const withDiscriminator = issue as Issue & { discriminator?: string; options?: unknown[] };
        if (withDiscriminator.options) return [{ field, problem: `must be ${oneOf(withDiscriminator.options)}` }];
        // A union written with its own message (`z.union([...], { error })`) says best what it expects.
        if (issue.message !== "Invalid input") return [{ field, problem: issue.message }];
        const branch = bestBranch(issue.errors);
        if (branch) return configProblems(branch, knownKeys, path);
        const expected = issue.errors.flatMap((b) => b.map((i) => (i.code === "invalid_type" ? (TYPE_NAMES[i.expected] ?? i.expected) : undefined))).filter(Boolean);
        return [{ field, problem: `must be ${oneOf([...new Set(expected)])}` }];
      }
      default:
        return [{ field, problem: issue.message }];
    }
  });
}

/**
 * The union member the value was most likely meant for: the one whose problems lie deepest in the value,
 * and among equals one where at least the type was right. Undefined when only the type was wrong everywhere.
 */
function bestBranch(branches: Issue[][]): Issue[] | undefined {
  let best: Issue[] | undefined;
  let bestScore = -1;
  for (const branch of branches) {
    const depth = Math.max(0, ...branch.map((i) => i.path.length));
    const typeOnly = branch.every((i) => i.code === "invalid_type" && i.path.length === 0);
    if (typeOnly) continue;
    const score = depth * 2 + 1;
    if (score > bestScore) {
      best = branch;
      bestScore = score;
    }
  }
  return best;
}

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  getter?: () => z.ZodType;
  left?: z.ZodType;
  right?: z.ZodType;
  in?: z.ZodType;
  valueType?: z.ZodType;
}
const defOf = (schema: z.ZodType) => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** The keys the mapping at `path` accepts (for a union of mappings: the members matching the value's discriminator). */
export function knownKeysIn(root: z.ZodType, value: unknown): (path: readonly PropertyKey[]) => string[] {
  return (path) => {
    let data: unknown = value;
    for (const key of path) data = data && typeof data === "object" ? (data as Record<PropertyKey, unknown>)[key] : undefined;
    let nodes = [root];
    for (const key of [...path, undefined]) {
      nodes = nodes.flatMap(unwrap);
      if (key === undefined) break;
      nodes = nodes.flatMap((node) => {
        const def = defOf(node);
        if (def.type === "object") return def.shape?.[String(key)] ? [def.shape[String(key)]!] : [];
        if (def.type === "array" && typeof key === "number") return def.element ? [def.element] : [];
        if (def.type === "record") return def.valueType ? [def.valueType] : [];
        return [];
      });
    }
    const matching = nodes.filter((node) => matchesLiterals(node, data));
    return [...new Set((matching.length > 0 ? matching : nodes).flatMap((node) => Object.keys(defOf(node).shape ?? {})))];
  };
}

/** Through optional/default/lazy/union wrappers to the schemas that describe the value itself. */
function unwrap(schema: z.ZodType): z.ZodType[] {
  const def = defOf(schema);
  if (def.innerType) return unwrap(def.innerType);
  if (def.getter) return unwrap(def.getter());
  if (def.type === "union" && def.options) return def.options.flatMap(unwrap);
  if (def.type === "intersection" && def.left && def.right) return [...unwrap(def.left), ...unwrap(def.right)];
  if (def.type === "pipe" && def.in) return unwrap(def.in);
  return [schema];
}

/** Whether the value agrees with every literal key of a mapping schema (e.g. `kind: file`). */
function matchesLiterals(schema: z.ZodType, data: unknown): boolean {
  const shape = defOf(schema).shape;
  if (!shape || !data || typeof data !== "object") return false;
  return Object.entries(shape).every(([key, field]) => {
    const def = defOf(field) as Def & { values?: unknown[] };
    return def.type !== "literal" || (def.values ?? []).includes((data as Record<string, unknown>)[key]);
  });
}
