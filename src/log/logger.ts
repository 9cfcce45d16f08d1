import { pino, type Logger, type LoggerOptions } from "pino";

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
  /** Where records go (default stdout). */
  destination?: pino.DestinationStream;
}

export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? process.env["PLUGBOARD_LOG_LEVEL"] ?? "info",
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
  };
  if (settings.name !== undefined) options.name = settings.name;
  return settings.destination ? pino(options, settings.destination) : pino(options);
}

/** A logger that drops everything, for tests and embedding without logs. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
