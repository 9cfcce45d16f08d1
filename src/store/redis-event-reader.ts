import type { Redis } from "ioredis";
import type { Logger } from "../log/index.js";
import { decodeEvent, rawFromStream } from "./redis-codec.js";
import type { StoreEvent } from "./types.js";

export interface EventReaderOptions {
  /** A connection of its own: XREAD BLOCK holds it. */
  reader: Redis;
  streamKey: string;
  /** Entries written by this store instance are skipped: they were delivered locally already. */
  origin: string;
  logger: Logger;
  deliver(event: StoreEvent): void;
  /** How long one XREAD blocks (ms); bounds how long stop() waits. */
  blockMs?: number;
}

export interface EventReader {
  stop(): Promise<void>;
}

/** Compares stream IDs "ms-seq". */
export function compareStreamIds(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split("-").map(BigInt);
  const [bm = 0n, bs = 0n] = b.split("-").map(BigInt);
  if (am !== bm) return am < bm ? -1 : 1;
  return as === bs ? 0 : as < bs ? -1 : 1;
}

async function tailId(reader: Redis, streamKey: string): Promise<string> {
  const last = (await reader.xrevrange(streamKey, "+", "-", "COUNT", 1)) as Array<[string, string[]]>;
  return last[0]?.[0] ?? "0-0";
}

function waitReady(reader: Redis, stopped: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (stopped() || reader.status === "ready" || reader.status === "end") {
        clearInterval(timer);
        resolve();
      }
    };
    const timer = setInterval(check, 50);
    check();
  });
}

/**
 * Follows the shared event stream from its current tail, delivering other hosts'
 * events in stream order. After a connection loss it resumes from the last ID it
 * saw, so nothing is lost or repeated (within the stream's MAXLEN).
 */
export async function startEventReader(options: EventReaderOptions): Promise<EventReader> {
  const { reader, streamKey, origin, logger, deliver } = options;
  const blockMs = options.blockMs ?? 5_000;
  let stopped = false;
  let lastId = await tailId(reader, streamKey);

  const resync = async () => {
    const tail = await tailId(reader, streamKey);
    // The stream went backwards (Redis lost it, or restored an older snapshot): what it holds
    // now we saw already, and entries are appended after its tail, so follow from there.
    if (compareStreamIds(tail, lastId) < 0) lastId = tail;
  };

  const loop = async () => {
    let needsResync = false;
    while (!stopped) {
      try {
        if (needsResync) {
          await resync();
          needsResync = false;
        }
        const reply = (await reader.xread("COUNT", 100, "BLOCK", blockMs, "STREAMS", streamKey, lastId)) as
          | Array<[string, Array<[string, string[]]>]>
          | null;
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            lastId = id;
            const entry = rawFromStream(fields);
            if (entry.origin === origin) continue;
            const event = decodeEvent(entry.raw);
            if (!event) continue;
            try {
              deliver(event);
            } catch (err) {
              logger.error({ err }, "store event listener threw");
            }
          }
        }
      } catch (err) {
        if (stopped) return;
        logger.debug({ err: (err as Error).message }, "event stream read failed; waiting for Redis");
        needsResync = true;
        await new Promise((r) => setTimeout(r, 100));
        await waitReady(reader, () => stopped);
      }
    }
  };
  const running = loop();

  return {
    async stop() {
      stopped = true;
      // Closing the connection rejects the pending XREAD at once.
      reader.disconnect();
      await running;
    },
  };
}
