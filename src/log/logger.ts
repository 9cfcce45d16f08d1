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

export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? process.env["PLUGBOARD_LOG_LEVEL"] ?? "info",
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
  };
  if (settings.name !== undefined) options.name = settings.name;
  return pino(options, settings.destination ?? createSafeDestination(1));
}

/** A logger that drops everything, for tests and embedding without logs. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
