import { pino } from "pino";

type Level = "trace" | "debug" | "info" | "warn" | "error" | "fatal";
const LEVELS = new Set<string>(["trace", "debug", "info", "warn", "error", "fatal"]);

/**
 * Fields only the host may set on a record about a plugin: its own level/time/pid/hostname, the
 * `plugin`/`stream` tags and the `audit` marker. A plugin that writes them is not believed (they are dropped).
 */
const HOST_ONLY = new Set(["level", "time", "pid", "hostname", "name", "msg", "v", "plugin", "stream", "audit", "fields"]);

export interface PluginRecord {
  level: Level;
  msg: string;
  fields: Record<string, unknown>;
}

/**
 * A plugin's JSON log line (pino or any `{ level, msg, ... }` object) as a record of its own: the plugin's
 * level and message, its other fields kept. Undefined for anything else (then the line is logged as text).
 */
export function parsePluginRecord(line: string): PluginRecord | undefined {
  if (line.charCodeAt(0) !== 123 /* { */) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
  const record = parsed as Record<string, unknown>;
  const level = levelOf(record["level"]);
  if (level === undefined) return undefined;
  const msg = typeof record["msg"] === "string" ? record["msg"] : typeof record["message"] === "string" ? record["message"] : "";
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) if (!HOST_ONLY.has(key) && key !== "message") fields[key] = value;
  // The plugin's own logger name is kept under a name that cannot clash with the host's.
  if (typeof record["name"] === "string") fields["logger"] = record["name"];
  return { level, msg, fields };
}

function levelOf(value: unknown): Level | undefined {
  if (typeof value === "number") {
    const label = pino.levels.labels[value];
    return label !== undefined && LEVELS.has(label) ? (label as Level) : undefined;
  }
  return typeof value === "string" && LEVELS.has(value.toLowerCase()) ? (value.toLowerCase() as Level) : undefined;
}

/** A line that continues the previous one in a stack trace (`    at f (file:1:2)`, `    ... 3 more`, a `cause`). */
export function continuesStackTrace(line: string): boolean {
  return /^\s+(at |\.\.\. \d+ more|\[cause\]|\{|\}|code: |errno: )/.test(line) || /^\s*\^+\s*$/.test(line);
}

/**
 * Whether `line` continues the held lines `held` as part of Node's report of an uncaught exception:
 * `file:///app/x.js:2`, the source line, the caret, a blank line, `Error: boom`, its `at` lines,
 * a blank line, `Node.js v20.x`. Blank lines are held too (trimmed when the record is written).
 */
export function continuesCrashReport(held: readonly string[], line: string): boolean {
  if (line.trim() === "") return true;
  if (/^(file:\/\/)?\/\S*:\d+$/.test(held[0] ?? "") && held.length < 3) return true; // the source line and caret
  const afterBlank = held.at(-1)?.trim() === "";
  return afterBlank && /^(\w*(Error|Exception)\b|Node\.js v\d|Uncaught\b)/.test(line);
}
