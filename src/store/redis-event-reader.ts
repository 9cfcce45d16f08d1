import type { RedisClient as Redis } from "./redis-source.js";
import type { Logger } from "../log/index.js";
import { decodeEvent, rawFromStream } from "./redis-codec.js";
import type { FeedReporter } from "./store-feed.js";
import type { RemovalCause, StoreEvent } from "./types.js";

export interface EventReaderOptions {
  /** A connection of its own: XREAD BLOCK holds it. */
  reader: Redis;
  streamKey: string;
  logger: Logger;
  deliver(event: StoreEvent): void;
  /** A runtime-ended entry: `runtimeId` was removed with `cause`. */
  runtimeEnded(runtimeId: string, cause: RemovalCause): void;
  /** How long one XREAD blocks (ms); bounds nothing user-visible since stop() disconnects. */
  blockMs?: number;
  /** How long a write waits for its own events to come round the stream before delivering them itself. */
  ownDeliveryTimeoutMs: number;
  /** Told of every read, failure and record invalidation, so caches know when they may be trusted. */
  feed?: FeedReporter;
}

export interface EventReader {
  /**
   * Resolves once this host's own events (from a script reply) were delivered to local
   * listeners: normally by the stream, in stream order with everyone else's; if the stream
   * is slow or down, directly, and then the stream skips them. Either way exactly once.
   */
  deliverOwn(events: Array<{ id: string; event: StoreEvent }>): Promise<void>;
  stop(): Promise<void>;
}

/** Stream entry type written by REMOVE_RUNTIME (its `r` field is the runtime id). */
export const RUNTIME_ENDED = "runtime-ended";
/** Written when a credential ends before its expiry (deleted, rotated away); `r` is its digest, `c` its runtime id. */
export const CREDENTIAL_ENDED = "credential-ended";
/** Written when a runtime record changes in place (health); `r` is the runtime id. */
export const RUNTIME_UPDATED = "runtime-updated";
const REGISTRATION_EVENTS = new Set(["added", "updated", "removed"]);
/** Entries one read asks for; a read that comes back full means the reader is behind. */
const BATCH = 100;

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

interface Waiter {
  id: string;
  resolve(): void;
}

/**
 * Follows the shared event stream from its tail at start-up and delivers every entry,
 * this host's included, in stream order: all hosts see one history. After a connection
 * loss it resumes from the last ID it saw, so nothing is lost or repeated (within the
 * stream's MAXLEN).
 */
export async function startEventReader(options: EventReaderOptions): Promise<EventReader> {
  const { reader, streamKey, logger } = options;
  const blockMs = options.blockMs ?? 5_000;
  let stopped = false;
  let lastId = await tailId(reader, streamKey);
  options.feed?.heard(false); // everything after the tail will be read: the feed is live from here
  let waiters: Waiter[] = [];
  /** Own events delivered directly because the stream lagged: the stream must not deliver them again. */
  const deliveredDirectly = new Set<string>();

  const deliver = (event: StoreEvent) => {
    try {
      options.deliver(event);
    } catch (err) {
      logger.error({ err }, "store event listener threw");
    }
  };
  const endRuntime = (runtimeId: string, cause: RemovalCause) => {
    try {
      options.runtimeEnded(runtimeId, cause);
    } catch (err) {
      logger.error({ err }, "runtime-ended listener threw");
    }
  };
  const release = () => {
    for (const id of deliveredDirectly) if (compareStreamIds(id, lastId) <= 0) deliveredDirectly.delete(id);
    const due = waiters.filter((w) => compareStreamIds(w.id, lastId) <= 0);
    if (due.length === 0) return;
    waiters = waiters.filter((w) => !due.includes(w));
    for (const waiter of due) waiter.resolve();
  };

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
        const reply = (await reader.xread("COUNT", BATCH, "BLOCK", blockMs, "STREAMS", streamKey, lastId)) as
          | Array<[string, Array<[string, string[]]>]>
          | null;
        options.feed?.heard((reply?.[0]?.[1].length ?? 0) >= BATCH);
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            lastId = id;
            const { raw } = rawFromStream(fields);
            // Invalidations also for this host's own entries: a cache may have re-read between write and entry.
            if (raw.type === CREDENTIAL_ENDED) options.feed?.invalidate({ kind: "credential", digest: raw.rec });
            else if (raw.type === RUNTIME_UPDATED) options.feed?.invalidate({ kind: "runtime", runtimeId: raw.rec });
            if (deliveredDirectly.delete(id)) continue;
            if (raw.type === RUNTIME_ENDED) endRuntime(raw.rec, raw.cause as RemovalCause);
            else if (REGISTRATION_EVENTS.has(raw.type)) {
              // Only registration entries carry a record (other types' `r` is an id, not JSON).
              const event = decodeEvent(raw);
              if (event) deliver(event);
            }
          }
        }
        release();
      } catch (err) {
        if (stopped) return;
        options.feed?.broken("event stream read failed");
        logger.debug({ err: (err as Error).message }, "event stream read failed; waiting for Redis");
        needsResync = true;
        await new Promise((r) => setTimeout(r, 100));
        await waitReady(reader, () => stopped);
      }
    }
  };
  const running = loop();

  const reached = (id: string, timeoutMs: number) =>
    new Promise<void>((resolve) => {
      if (compareStreamIds(id, lastId) <= 0) return resolve();
      const timer = setTimeout(resolve, timeoutMs);
      waiters.push({
        id,
        resolve() {
          clearTimeout(timer);
          resolve();
        },
      });
    });

  return {
    async deliverOwn(events) {
      if (events.length === 0) return;
      // A healthy reader wakes on XADD at once; one that is reconnecting gets no wait.
      if (reader.status === "ready" && !stopped) {
        const newest = events.reduce((max, e) => (compareStreamIds(e.id, max) > 0 ? e.id : max), "0-0");
        await reached(newest, options.ownDeliveryTimeoutMs);
      }
      for (const { id, event } of events) {
        if (compareStreamIds(id, lastId) <= 0) continue; // the stream delivered it
        deliveredDirectly.add(id);
        deliver(event);
      }
    },
    async stop() {
      stopped = true;
      // Closing the connection rejects the pending XREAD at once.
      reader.disconnect();
      await running;
      for (const waiter of waiters.splice(0)) waiter.resolve();
    },
  };
}
