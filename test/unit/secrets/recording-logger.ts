import type { Logger } from "../../../src/log/index.js";

/** A logger that keeps each call as [level, fields, message], to check what is (and is not) logged. */
export function recordingLogger(): { logger: Logger; lines: [string, Record<string, unknown>, string][] } {
  const lines: [string, Record<string, unknown>, string][] = [];
  const at = (level: string) => (fields: Record<string, unknown>, message: string) => void lines.push([level, fields, message]);
  const logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") } as unknown as Logger;
  return { logger, lines };
}
