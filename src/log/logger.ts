import { pino, type Logger, type LoggerOptions } from "pino";
import { createSafeDestination } from "./safe-destination.js";

export type { Logger };

/**
 * Paths pino blanks out wherever they appear in a log record: the last line of
 * defence; code never logs credentials on purpose.
 */
export const REDACTED_PATHS = [
  "token",
  "*.token",
  "runtimeToken",
  "*.runtimeToken",
  "grantToken",
  "*.grantToken",
  "secret",
  "*.secret",
  "value",
  "*.value",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  "launchSecret",
  "*.launchSecret",
  "enrolmentToken",
  "*.enrolmentToken",
  "callerSigningKey",
  "*.callerSigningKey",
];

export interface LoggerSettings {
  level?: LoggerOptions["level"];
  name?: string;
  /** Where records go (default stdout, dropping lines rather than blocking when the pipe is full or broken). */
  destination?: pino.DestinationStream;
}

/** Keys pino writes itself: a field of the same name would appear twice in one JSON record. */
const RECORD_KEYS = new Set(["level", "time", "pid", "hostname", "name", "msg"]);

/**
 * Keeps every record valid-looking JSON with unique keys: a logged field named like one of pino's own
 * (e.g. a plugin's `pid`) moves under `fields` instead of repeating the key.
 */
export function uniqueKeys(object: Record<string, unknown>): Record<string, unknown> {
  let clashes: Record<string, unknown> | undefined;
  for (const key of Object.keys(object)) if (RECORD_KEYS.has(key)) (clashes ??= {})[key] = object[key];
  if (!clashes) return object;
  const rest = Object.fromEntries(Object.entries(object).filter(([key]) => !RECORD_KEYS.has(key)));
  const fields = typeof rest["fields"] === "object" && rest["fields"] !== null ? rest["fields"] : {};
  return { ...rest, fields: { ...fields, ...clashes } };
}

export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    // PLUGBOARD_LOG_LEVEL: trace, debug, info (default), warn, error, fatal or silent.
    level: settings.level ?? process.env["PLUGBOARD_LOG_LEVEL"] ?? "info",
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    formatters: { log: uniqueKeys },
  };
  if (settings.name !== undefined) options.name = settings.name;
  return pino(options, settings.destination ?? createSafeDestination(1));
}

/** A logger that drops everything, for tests and embedding without logs. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
