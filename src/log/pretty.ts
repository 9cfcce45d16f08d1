import type { pino } from "pino";

/**
 * A human-readable destination for `plugboard host --pretty` (the default on a terminal): the same JSON
 * records formatted by pino-pretty. Loaded only when asked for, so JSON logging never pays its import.
 */
export async function prettyDestination(options: { colorize?: boolean } = {}): Promise<pino.DestinationStream> {
  const { default: pretty } = await import("pino-pretty");
  return pretty({
    colorize: options.colorize ?? process.stdout.isTTY === true,
    translateTime: "SYS:HH:MM:ss.l",
    ignore: "pid,hostname",
    sync: true,
  });
}
