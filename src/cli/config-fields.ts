/** Tiny typed readers for config files: every problem names the field path. */

export interface ConfigProblem {
  /** Key path, e.g. `plugins[0].restart.policy`. */
  field: string;
  /** What was expected. */
  problem: string;
}

export class ConfigError extends Error {
  /** Every problem found (the message has them one per line: `<file>: config <key path>: <what was expected>`). */
  readonly problems: ConfigProblem[];
  constructor(
    readonly field: string,
    problem: string,
    /** The config file, named in front of each problem. */
    readonly file?: string,
    more: ConfigProblem[] = [],
  ) {
    const problems = [{ field, problem }, ...more];
    super(problems.map((p) => `${file ? `${file}: ` : ""}config ${p.field}: ${p.problem}`).join("\n"));
    this.problems = problems;
    this.name = "ConfigError";
  }

  static of(problems: ConfigProblem[], file?: string): ConfigError {
    const [first, ...more] = problems;
    return new ConfigError(first?.field ?? "(root)", first?.problem ?? "invalid", file, more);
  }

  /** The same problems, naming the file they were found in. */
  inFile(file: string): ConfigError {
    return this.file ? this : ConfigError.of(this.problems, file);
  }
}

export type Obj = Record<string, unknown>;

export function isObj(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function obj(value: unknown, field: string): Obj {
  if (!isObj(value)) throw new ConfigError(field, "must be a mapping");
  return value;
}

export function optObj(parent: Obj, key: string, field: string): Obj | undefined {
  return parent[key] === undefined ? undefined : obj(parent[key], `${field}.${key}`.replace(/^\./, ""));
}

export function str(parent: Obj, key: string, field: string): string {
  const value = parent[key];
  if (typeof value !== "string" || value === "") throw new ConfigError(join(field, key), "must be a non-empty string");
  return value;
}

export function optStr(parent: Obj, key: string, field: string): string | undefined {
  return parent[key] === undefined ? undefined : str(parent, key, field);
}

export function optNum(parent: Obj, key: string, field: string, { min = 0 } = {}): number | undefined {
  const value = parent[key];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min)
    throw new ConfigError(join(field, key), `must be a number ≥ ${min}`);
  return value;
}

export function optBool(parent: Obj, key: string, field: string): boolean | undefined {
  const value = parent[key];
  if (value === undefined) return undefined;
  if (typeof value !== "boolean") throw new ConfigError(join(field, key), "must be true or false");
  return value;
}

export function optStrList(parent: Obj, key: string, field: string): string[] | undefined {
  const value = parent[key];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string"))
    throw new ConfigError(join(field, key), "must be a list of strings");
  return value as string[];
}

/** Refuses keys the schema does not know: a typo must not silently turn a setting off. */
export function onlyKeys(value: Obj, allowed: readonly string[], field: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new ConfigError(join(field, key), `unknown setting (known: ${allowed.join(", ")})`);
  }
}

export function join(field: string, key: string): string {
  return field === "" ? key : `${field}.${key}`;
}
