import type { Readable } from "node:stream";
import type { Logger } from "../log/logger.js";

export interface OutputCaptureOptions {
  /** Longer lines are cut here (the rest up to the next newline is dropped). Default 8 KiB. */
  maxLineBytes?: number;
  /** Lines logged per second per stream; the rest are counted and reported as dropped. Default 200. */
  maxLinesPerSecond?: number;
}

/**
 * Logs a plugin's stdout/stderr line by line as `{ plugin, stream }` records. Built on plain
 * 'data' events rather than readline, because readline buffers an unterminated line without bound.
 * The stream is never paused (a plugin blocked on a full pipe would hang), and a flood costs
 * the host one indexOf per line plus at most `maxLinesPerSecond` log records.
 */
export function captureOutput(
  stream: Readable,
  logger: Logger,
  tags: { plugin: string; stream: "stdout" | "stderr" },
  options: OutputCaptureOptions = {},
): void {
  const maxLineBytes = options.maxLineBytes ?? 8 * 1024;
  const maxLinesPerSecond = options.maxLinesPerSecond ?? 200;
  const level = tags.stream === "stderr" ? "warn" : "info";
  let partial: Buffer[] = [];
  let partialBytes = 0;
  let truncating = false;
  let windowStart = 0;
  let logged = 0;
  let dropped = 0;

  /** Whether one more line may be logged in this second; dropped lines are only counted, never decoded. */
  const admit = (): boolean => {
    const now = Date.now();
    if (now - windowStart >= 1_000) {
      if (dropped > 0) logger.warn({ ...tags, dropped }, "plugin output rate-limited: lines dropped");
      windowStart = now;
      logged = 0;
      dropped = 0;
    }
    if (logged >= maxLinesPerSecond) {
      dropped++;
      return false;
    }
    logged++;
    return true;
  };

  const take = (chunk: Buffer) => {
    if (truncating) return;
    const room = maxLineBytes - partialBytes;
    if (chunk.length > room) {
      partial.push(chunk.subarray(0, room));
      partialBytes = maxLineBytes;
      truncating = true;
    } else {
      partial.push(chunk);
      partialBytes += chunk.length;
    }
  };

  const flushLine = () => {
    if (admit()) {
      const text = Buffer.concat(partial, partialBytes).toString("utf8").replace(/\r$/, "");
      logger[level](truncating ? { ...tags, truncated: true } : tags, text);
    }
    partial = [];
    partialBytes = 0;
    truncating = false;
  };

  stream.on("data", (data: Buffer | string) => {
    const chunk = typeof data === "string" ? Buffer.from(data) : data;
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
      take(chunk.subarray(start, nl));
      flushLine();
      start = nl + 1;
    }
    if (start < chunk.length) take(chunk.subarray(start));
  });
  stream.once("end", () => {
    if (partialBytes > 0 || truncating) flushLine();
    if (dropped > 0) logger.warn({ ...tags, dropped }, "plugin output rate-limited: lines dropped");
  });
  stream.on("error", () => undefined);
}
