import type { RedisClient as Redis } from "./redis-source.js";
import type { Logger } from "../log/index.js";
import { decodeEvent, rawFromStream } from "./redis-codec.js";
import type { FeedReporter } from "./store-feed.js";
import type { RemovalCause, StoreEvent } from "./types.js";

export interface EventReaderOptions {
  /** The event streams, one per bucket (index = bucket). */
  streamKeys: readonly string[];
  /**
   * Connections of their own (XREAD BLOCK holds one), each reading the streams it lists in one XREAD:
   * all of them on one Redis server; on a Cluster one connection per slot (a multi-key XREAD must stay in one slot).
   */
  readers: ReadonlyArray<{ connection: Redis; streams: readonly number[] }>;
  logger: Logger;
  deliver(event: StoreEvent): void;
  /** A runtime-ended entry: `runtimeId` was removed with `cause`. */
  runtimeEnded(runtimeId: string, cause: RemovalCause): void;
  /** A credential-ended entry: the credential with this digest (of `runtimeId`) was deleted or consumed. */
  credentialEnded?(digest: string, runtimeId: string): void;
  /** How long one XREAD blocks (ms); bounds nothing user-visible since stop() disconnects. */
  blockMs?: number;
  /** How long a write waits for its own events to come round the stream before delivering them itself. */
  ownDeliveryTimeoutMs: number;
  /** Told of every read, failure and record invalidation (source = the reader's index), so caches know when they may be trusted. */
  feed?: FeedReporter;
}

/** An event a script returned: the bucket whose stream it went to, its entry ID there, and the event. */
export interface OwnEvent {
  stream: number;
  id: string;
  event: StoreEvent;
}

export interface EventReader {
  /**
   * Resolves once this host's own events (from a script reply) were delivered to local
   * listeners: normally by the stream, in stream order with everyone else's; if the stream
   * is slow or down, directly, and then the stream skips them. Either way exactly once.
   */
  deliverOwn(events: OwnEvent[]): Promise<void>;
  stop(): Promise<void>;
}

/** Stream entry type written by REMOVE_RUNTIME (its `r` field is the runtime id). */
export const RUNTIME_ENDED = "runtime-ended";
/** Stream entry type written when a credential ends (`r` = digest, `c` = runtime id). */
export const CREDENTIAL_ENDED = "credential-ended";
/** Written when a runtime record changes in place (health); `r` is the runtime id. */
export const RUNTIME_UPDATED = "runtime-updated";
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
  stream: number;
  id: string;
  resolve(): void;
}

/**
 * Follows every bucket's event stream from its tail at start-up and delivers every entry,
 * this host's included, in stream order: all hosts see one history per stream, so the events
 * of one runtime (and of each of its registrations) arrive in the order they happened. After a
 * connection loss it resumes from the last ID it saw, so nothing is lost or repeated (within the
 * stream's MAXLEN).
 */
export async function startEventReader(options: EventReaderOptions): Promise<EventReader> {
  const { streamKeys, logger } = options;
  const blockMs = options.blockMs ?? 5_000;
  let stopped = false;
  const lastIds = await Promise.all(
    streamKeys.map((key, i) => tailId(options.readers.find((r) => r.streams.includes(i))!.connection, key)),
  );
  let waiters: Waiter[] = [];
  /** Own events delivered directly because the stream lagged: the stream must not deliver them again. */
  const deliveredDirectly = new Set<string>();
  const directKey = (stream: number, id: string) => `${stream}/${id}`;

  const guarded = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      logger.error({ err }, `${what} listener threw`);
    }
  };
  const readerOf = (stream: number) => options.readers.find((r) => r.streams.includes(stream))!.connection;
  const release = () => {
    for (const key of deliveredDirectly) {
      const [stream, id] = key.split("/") as [string, string];
      if (compareStreamIds(id, lastIds[Number(stream)]!) <= 0) deliveredDirectly.delete(key);
    }
    const due = waiters.filter((w) => compareStreamIds(w.id, lastIds[w.stream]!) <= 0);
    if (due.length === 0) return;
    waiters = waiters.filter((w) => !due.includes(w));
    for (const waiter of due) waiter.resolve();
  };

  const handle = (stream: number, id: string, fields: string[]) => {
    lastIds[stream] = id;
    const { raw } = rawFromStream(fields);
    if (raw.type === CREDENTIAL_ENDED) options.feed?.invalidate({ kind: "credential", digest: raw.rec });
    else if (raw.type === RUNTIME_UPDATED) options.feed?.invalidate({ kind: "runtime", runtimeId: raw.rec });
    if (deliveredDirectly.delete(directKey(stream, id))) return;
    if (raw.type === RUNTIME_ENDED) return guarded("runtime-ended", () => options.runtimeEnded(raw.rec, raw.cause as RemovalCause));
    if (raw.type === CREDENTIAL_ENDED) return guarded("credential-ended", () => options.credentialEnded?.(raw.rec, raw.cause));
    const event = decodeEvent(raw);
    if (event) guarded("store event", () => options.deliver(event));
  };

  const follow = async (connection: Redis, streams: readonly number[], source: number) => {
    options.feed?.heard(false, source); // everything after the tails will be read: the feed is live from here
    const keys = streams.map((i) => streamKeys[i]!);
    const indexOf = new Map(keys.map((k, j) => [k, streams[j]!]));
    let needsResync = false;
    while (!stopped) {
      try {
        if (needsResync) {
          for (const i of streams) {
            const tail = await tailId(connection, streamKeys[i]!);
            // The stream went backwards (Redis lost it, or restored an older snapshot): what it holds
            // now we saw already, and entries are appended after its tail, so follow from there.
            if (compareStreamIds(tail, lastIds[i]!) < 0) lastIds[i] = tail;
          }
          needsResync = false;
        }
        const reply = (await connection.xread("COUNT", BATCH, "BLOCK", blockMs, "STREAMS", ...keys, ...streams.map((i) => lastIds[i]!))) as
          | Array<[string, Array<[string, string[]]>]>
          | null;
        options.feed?.heard((reply ?? []).some(([, entries]) => entries.length >= BATCH), source);
        for (const [key, entries] of reply ?? []) {
          const stream = indexOf.get(key);
          if (stream === undefined) continue;
          for (const [id, fields] of entries) handle(stream, id, fields);
        }
        release();
      } catch (err) {
        if (stopped) return;
        options.feed?.broken("event stream read failed", source);
        logger.debug({ err: (err as Error).message }, "event stream read failed; waiting for Redis");
        needsResync = true;
        await new Promise((r) => setTimeout(r, 100));
        await waitReady(connection, () => stopped);
      }
    }
  };
  const running = Promise.all(options.readers.map((r, source) => follow(r.connection, r.streams, source)));

  const reached = (stream: number, id: string, timeoutMs: number) =>
    new Promise<void>((resolve) => {
      if (compareStreamIds(id, lastIds[stream]!) <= 0) return resolve();
      const timer = setTimeout(resolve, timeoutMs);
      waiters.push({
        stream,
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
      const newest = new Map<number, string>();
      for (const e of events) {
        const known = newest.get(e.stream);
        if (known === undefined || compareStreamIds(e.id, known) > 0) newest.set(e.stream, e.id);
      }
      await Promise.all(
        [...newest].map(([stream, id]) =>
          readerOf(stream).status === "ready" && !stopped ? reached(stream, id, options.ownDeliveryTimeoutMs) : undefined,
        ),
      );
      for (const { stream, id, event } of events) {
        if (compareStreamIds(id, lastIds[stream]!) <= 0) continue; // the stream delivered it
        deliveredDirectly.add(directKey(stream, id));
        guarded("store event", () => options.deliver(event));
      }
    },
    async stop() {
      stopped = true;
      // Closing the connections rejects the pending XREADs at once.
      for (const r of options.readers) r.connection.disconnect();
      await running;
      for (const waiter of waiters.splice(0)) waiter.resolve();
    },
  };
}
