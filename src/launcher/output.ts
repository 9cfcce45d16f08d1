import type { Readable } from "node:stream";
import type { Logger } from "../log/logger.js";
import { continuesCrashReport, continuesStackTrace, parsePluginRecord } from "./plugin-record.js";

export interface OutputCaptureOptions {
  /** Longer lines are cut here: the head is logged (`truncated: true`), the rest up to the next newline dropped. Default 8 KiB. */
  maxLineBytes?: number;
  /** Lines logged per second per stream; the rest are counted and reported as dropped. Default 200. */
  maxLinesPerSecond?: number;
  /**
   * Bytes read per second per stream. Beyond it reading pauses until the next second: a flood then
   * slows the plugin down (its writes wait on the pipe) instead of eating the host's CPU. Default 4 MiB.
   */
  maxBytesPerSecond?: number;
}

/** Lines of one stack trace gathered into one record, at most this many. */
const MAX_TRACE_LINES = 200;
/** A text line waits this long for stack-trace lines that continue it. */
const TRACE_WAIT_MS = 50;

/**
 * Logs a plugin's stdout/stderr line by line as `{ plugin, stream }` records. A JSON log line (pino's)
 * becomes a record of its own with the plugin's level, message and fields; other lines are messages
 * (stdout info, stderr warn), and the lines of a stack trace one record. Built on plain
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
  const maxBytesPerSecond = options.maxBytesPerSecond ?? 4 * 1024 * 1024;
  let byteWindowStart = 0;
  let bytesInWindow = 0;
  const level = tags.stream === "stderr" ? "warn" : "info";
  let partial: Buffer[] = [];
  let partialBytes = 0;
  let skipping = false;
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

  /** Appends to the current line; at the cap the line is logged at once and the rest of it skipped. */
  const take = (chunk: Buffer) => {
    if (skipping) return;
    const room = maxLineBytes - partialBytes;
    if (chunk.length < room) {
      partial.push(chunk);
      partialBytes += chunk.length;
      return;
    }
    partial.push(chunk.subarray(0, room));
    partialBytes = maxLineBytes;
    flush(true);
    skipping = true;
  };

  // The last text line, held briefly: stack-trace lines that follow join it in one record.
  let pending: { lines: string[] } | undefined;
  let pendingTimer: NodeJS.Timeout | undefined;
  const flushPending = () => {
    if (pendingTimer) clearTimeout(pendingTimer);
    pendingTimer = undefined;
    if (!pending) return;
    const lines = pending.lines;
    pending = undefined;
    while (lines.length > 1 && lines.at(-1)!.trim() === "") lines.pop();
    const trace = lines.length > 1;
    logger[trace ? "error" : level](trace ? { ...tags, stackTrace: true } : tags, lines.join("\n"));
  };

  const emit = (text: string, truncated: boolean) => {
    if (pending && pending.lines.length < MAX_TRACE_LINES && (continuesStackTrace(text) || continuesCrashReport(pending.lines, text))) {
      pending.lines.push(text);
      return;
    }
    flushPending();
    if (truncated) {
      logger[level]({ ...tags, truncated }, text);
      return;
    }
    const record = parsePluginRecord(text);
    // The plugin's fields first: the host's tags always win.
    if (record) logger[record.level]({ ...record.fields, ...tags }, record.msg);
    else {
      pending = { lines: [text] };
      pendingTimer = setTimeout(flushPending, TRACE_WAIT_MS);
      pendingTimer.unref();
    }
  };

  const flush = (truncated: boolean) => {
    if (admit()) emit(Buffer.concat(partial, partialBytes).toString("utf8").replace(/\r$/, ""), truncated);
    partial = [];
    partialBytes = 0;
  };

  /** At a newline: log the line, unless its truncated head was logged already. */
  const endLine = () => {
    if (skipping) skipping = false;
    else flush(false);
  };

  stream.on("data", (data: Buffer | string) => {
    const chunk = typeof data === "string" ? Buffer.from(data) : data;
    const now = Date.now();
    if (now - byteWindowStart >= 1_000) {
      byteWindowStart = now;
      bytesInWindow = 0;
    }
    bytesInWindow += chunk.length;
    if (bytesInWindow > maxBytesPerSecond) {
      // Paused, never stopped: reading resumes with the next window.
      stream.pause();
      setTimeout(() => stream.resume(), byteWindowStart + 1_000 - now).unref();
    }
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
      take(chunk.subarray(start, nl));
      endLine();
      start = nl + 1;
    }
    if (start < chunk.length) take(chunk.subarray(start));
  });
  stream.once("end", () => {
    if (partialBytes > 0) flush(false);
    flushPending();
    if (dropped > 0) logger.warn({ ...tags, dropped }, "plugin output rate-limited: lines dropped");
  });
  stream.on("error", () => undefined);
}
