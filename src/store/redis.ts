import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { Cluster, Redis } from "ioredis";
import { silentLogger, type Logger } from "../log/index.js";
import type { DurableRunner, StepRunner, StoreContext } from "./redis-context.js";
import { createRedisCredentials } from "./redis-credentials.js";
import { createDurability, type DurableWritesOptions } from "./redis-durability.js";
import { startEventReader, type OwnEvent } from "./redis-event-reader.js";
import { createKeyLayout, DEFAULT_BUCKETS, keySlot } from "./redis-keys.js";
import { checkLayout } from "./redis-layout.js";
import { createRedisRegistrations } from "./redis-registrations.js";
import { createRedisRuntimes } from "./redis-runtimes.js";
import { createScriptRunner, type ScriptRunner } from "./redis-script-runner.js";
import { createFeedHealth, type StoreFeed } from "./store-feed.js";
import { createRedisEnrolments } from "./redis-enrolments.js";
import * as scripts from "./redis-scripts.js";
import { checkRedisMode, connectRedis, diagnoseSourceMode, validateRedisSource, type RedisClient, type RedisSource } from "./redis-source.js";
import type { RemovalCause, Store, StoreEvent } from "./types.js";

export { taggedPrefix } from "./redis-keys.js";

export interface RedisStoreOptions {
  /** redis:// or rediss:// URL; the store opens and owns its connections. Same as `source: url`. */
  url?: string;
  /** A URL, `{ url }`, `{ sentinels, name, … }` or `{ cluster, … }`; the store opens and owns its connections. */
  source?: RedisSource;
  /** An existing ioredis client or Cluster. The store duplicates it for its stream reader and durable writes, and leaves it open on close(). */
  client?: RedisClient;
  /**
   * Namespace for every key, so several deployments can share one Redis. Default "plugboard:". Keys are
   * `{name:i.n}:…` (Redis Cluster hash tags, one per bucket, see `buckets`); a prefix that already holds
   * `{…}` is used as is and puts all of the deployment's keys in that one slot.
   */
  keyPrefix?: string;
  /**
   * How many hash-tag buckets a deployment's keys are spread over (Cluster slots evenly spaced over the
   * slot range, so over every primary). Part of the key layout: every host of a deployment must use the
   * same value (a host with another refuses to start). Each host reads every bucket's event stream (one
   * blocking connection per bucket on a Cluster). Default 16.
   */
  buckets?: number;
  /** Longest pause between reconnect attempts (connections the store opens). Default 200 ms. */
  reconnectMaxDelayMs?: number;
  /** Replica confirmation of security writes (WAIT) and their re-application on a new primary; false turns it off. */
  durableWrites?: DurableWritesOptions | false;
  logger?: Logger;
  /** Names this host; with a random suffix it marks each stream entry this store writes (field `o`, for diagnosis). Default hostname-pid. */
  hostId?: string;
  /**
   * How long a runtime's keys outlive its expiresAt when no host sweeps (every host down) before Redis drops
   * them by itself, silently. While any host runs, its sweep removes expired runtimes first, with events. Default 60 s.
   */
  expiredGraceMs?: number;
  /** Approximate cap on each bucket's event stream (XADD MAXLEN ~). A host offline longer than this many events of a bucket loses the gap. Default 10 000. */
  eventStreamMaxLen?: number;
  /**
   * How long a write waits for its own events to come back on the stream, so local listeners see one
   * order with other hosts' events, before delivering them directly (reader lagging or reconnecting). Default 1 s.
   */
  ownEventTimeoutMs?: number;
  /** How long to wait for Redis at start-up before failing. Default 5 s. */
  connectTimeoutMs?: number;
  /** A command with no reply after this long rejects (a hung Redis). Default 5 s. */
  commandTimeoutMs?: number;
  /**
   * How long the event feed may stay silent before this host's read caches stop trusting it (reads go
   * to Redis until it answers again); the readers' blocking reads return every half of this. It bounds
   * how late a host acts on another host's change when its link to Redis hangs silently. Default 2 s.
   */
  feedSilenceMs?: number;
}

export interface RedisStore extends Store {
  /** This store instance's name on the stream entries it writes (hostId plus a random suffix). */
  readonly origin: string;
  /**
   * Called when Redis comes back without this deployment's data (restart without persistence, FLUSHALL):
   * runtimes, credentials and registrations are gone, so the host should make live plugins handshake again.
   */
  onReset(listener: () => void): () => void;
  /**
   * A credential was deleted or consumed (revocation, grant revoke, refresh, expiry sweep), on any host:
   * `digest` is its SHA-256, `runtimeId` its runtime. For caches of credentials; a runtime's removal is
   * announced by onRuntimeEnded instead.
   */
  onCredentialEnded(listener: (digest: string, runtimeId: string) => void): () => void;
  /** The change feed's health and the invalidations registration events do not carry (for read caches). */
  readonly feed: StoreFeed;
}

const positive = (name: string, value: number | undefined, fallback: number) => {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer`);
  return value;
};

function duplicateClient(client: RedisClient, connectionName: string): RedisClient {
  if (client instanceof Cluster) {
    return client.duplicate(undefined, { redisOptions: { ...client.options.redisOptions, connectionName } });
  }
  return client.duplicate({ lazyConnect: false, connectionName, maxRetriesPerRequest: 0 });
}

function waitForReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === "ready") return Promise.resolve();
  return new Promise((resolve, reject) => {
    // The last connection error says why (e.g. "cluster support disabled" for { cluster } on a plain Redis).
    let lastError = "";
    const onError = (err: Error) => (lastError = err.message);
    const timer = setTimeout(() => {
      client.off("ready", onReady);
      client.off("error", onError);
      reject(new Error(`Redis store: not connected after ${timeoutMs} ms${lastError ? ` (last error: ${lastError})` : ""}`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      client.off("error", onError);
      resolve();
    };
    client.once("ready", onReady);
    client.on("error", onError);
  });
}

/**
 * Shared state for several hosts behind a load balancer. Keys are spread over hash-tag buckets
 * (redis-keys.ts) so a Redis Cluster shards one deployment; records expire with PX TTLs, each
 * runtime's cascades run as one Lua script on its bucket, and every change is appended to its
 * bucket's stream, which every host follows, so a watcher on any host sees every change once.
 */
export async function createRedisStore(options: RedisStoreOptions): Promise<RedisStore> {
  const given = [options.url, options.source, options.client].filter((v) => v !== undefined).length;
  if (given !== 1) throw new TypeError("createRedisStore: give exactly one of url, source or client");
  const source = options.client ? undefined : validateRedisSource(options.url ?? options.source, "source");
  const keyPrefix = options.keyPrefix ?? "plugboard:";
  if (typeof keyPrefix !== "string" || keyPrefix.length === 0) throw new TypeError("keyPrefix must be a non-empty string");
  const layout = createKeyLayout(keyPrefix, options.buckets ?? DEFAULT_BUCKETS);
  const logger = options.logger ?? silentLogger();
  const graceMs = positive("expiredGraceMs", options.expiredGraceMs, 60_000);
  const maxLen = positive("eventStreamMaxLen", options.eventStreamMaxLen, 10_000);
  const connectTimeoutMs = positive("connectTimeoutMs", options.connectTimeoutMs, 5_000);
  const commandTimeoutMs = positive("commandTimeoutMs", options.commandTimeoutMs, 5_000);
  const ownEventTimeoutMs = positive("ownEventTimeoutMs", options.ownEventTimeoutMs, 1_000);
  const feedSilenceMs = positive("feedSilenceMs", options.feedSilenceMs, 2_000);
  const origin = `${options.hostId ?? `${hostname()}-${process.pid}`}/${randomBytes(6).toString("hex")}`;

  const clientPrefix =
    options.client instanceof Cluster ? options.client.options.redisOptions?.keyPrefix : options.client?.options.keyPrefix;
  if (clientPrefix) {
    // ioredis would prefix command keys but not the keys our Lua scripts build: they would disagree.
    throw new TypeError("createRedisStore: use the store's keyPrefix option, not the client's");
  }
  const ownsClient = options.client === undefined;
  const reconnectMaxDelayMs = options.reconnectMaxDelayMs;
  // Store operations fail fast while Redis is away (see ready()) instead of queueing: the host answers Unavailable.
  const open = (connectionName: string, commandTimeout: number | undefined) =>
    options.client
      ? duplicateClient(options.client, connectionName)
      : connectRedis(source!, { connectionName, commandTimeout, enableOfflineQueue: true, reconnectMaxDelayMs });
  const client: RedisClient = options.client ?? open("plugboard-store", commandTimeoutMs);
  // The event streams, one per bucket: one XREAD reads them all on one server; a Cluster allows one slot per XREAD.
  const streamGroups = new Map<number, number[]>();
  layout.streams.forEach((key, i) => {
    const group = client instanceof Cluster ? keySlot(key) : 0;
    streamGroups.set(group, [...(streamGroups.get(group) ?? []), i]);
  });
  const readers = [...streamGroups.values()].map((streams) => ({ connection: open("plugboard-events", undefined), streams }));
  // Security writes and their WAIT on a connection of their own: WAIT blocks the connection it runs on.
  const writer = open("plugboard-durable", commandTimeoutMs);

  // ioredis reconnects by itself; we only keep the logs quiet and useful (no URLs: they may hold a password).
  let connected = client.status === "ready";
  client.on("error", (err: Error) => logger.debug({ err: err.message }, "redis connection error"));
  for (const { connection } of readers) connection.on("error", (err: Error) => logger.debug({ err: err.message }, "redis event connection error"));
  writer.on("error", (err: Error) => logger.debug({ err: err.message }, "redis durable-write connection error"));
  client.on("close", () => {
    if (connected) logger.warn("redis store: connection lost; operations fail until it is back");
    connected = false;
  });

  const closeAll = async () => {
    for (const { connection } of readers) connection.disconnect();
    writer.disconnect();
    if (ownsClient) client.disconnect();
  };
  if (client.status === "wait") client.connect().catch(() => {}); // a caller's lazyConnect client; errors surface below
  try {
    await Promise.all([client, writer, ...readers.map((r) => r.connection)].map((c) => waitForReady(c, connectTimeoutMs)));
    if (source !== undefined && client instanceof Redis) await checkRedisMode(client, source);
  } catch (err) {
    await closeAll();
    const hint = source !== undefined ? await diagnoseSourceMode(source) : undefined;
    throw hint ? new Error(`Redis store: ${hint}`) : err;
  }
  connected = true;

  const run = createScriptRunner(client);
  const runDurable = createScriptRunner(writer);
  const plain: StepRunner = { run, client, touch: () => {} };
  const listeners = new Set<(event: StoreEvent) => void>();
  const endedListeners = new Set<(runtimeId: string, cause: RemovalCause) => void>();
  const credentialListeners = new Set<(digest: string, runtimeId: string) => void>();
  const resetListeners = new Set<() => void>();
  const feed = createFeedHealth({
    silenceMs: feedSilenceMs,
    sources: readers.length,
    onListenerError: (err) => logger.error({ err }, "store feed listener threw"),
  });
  readers.forEach(({ connection }, source) => connection.on("close", () => feed.broken("event connection closed", source)));

  const deliver = (event: StoreEvent) => {
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch (err) {
        logger.error({ err }, "store event listener threw");
      }
    }
  };

  /** Fail fast while disconnected: ioredis would otherwise queue the command until Redis is back. */
  const ready = () => {
    if (client.status !== "ready") throw new Error("Redis store unavailable");
  };
  /**
   * A security write: its steps run on the durable connection, then WAIT on the primary of every key they
   * touched (see redis-durability.ts): acknowledged only once the replicas hold it.
   */
  const durableWrite: DurableRunner = async (steps, replay) => {
    if (writer.status !== "ready") throw new Error("Redis store unavailable");
    const touched = new Set<string>();
    const recording: ScriptRunner = (script, keys, args) => {
      for (const k of keys) touched.add(k);
      return runDurable(script, keys, args);
    };
    const result = await steps({ run: recording, client: writer, touch: (k) => touched.add(k) });
    await durability.confirm([...touched], replay && (() => replay(plain)));
    return result;
  };

  // One key per slot the store uses (its buckets' and the deployment's own), for readiness and slot refreshes.
  const perSlot = (name: string) =>
    [...new Map([layout.global(name), ...layout.streams.map((_, i) => layout.bucketKey(i, name))].map((k) => [keySlot(k), k])).values()];
  const slotKeys = perSlot("ready-probe");
  // A marker per slot that lives as long as the data: if one is gone after a reconnect or a primary's restart
  // (a Cluster node that came back empty), so is that slot's state.
  const epochKeys = perSlot("epoch");
  const claimEpochs = () =>
    Promise.all(
      epochKeys.map(async (k) => {
        await client.set(k, randomBytes(8).toString("hex"), "NX");
        return client.get(k);
      }),
    );
  let epochs: Array<string | null> = [];
  /** True (and listeners told) when some slot lost its data since the last look. */
  const checkReset = async () => {
    const current = await claimEpochs();
    const lost = current.filter((value, i) => value !== epochs[i]).length;
    epochs = current;
    if (lost === 0) return false;
    feed.broken("store reset");
    logger.warn({ slots: lost, of: epochKeys.length }, "redis store: Redis came back without its data; live plugins must register again");
    await checkLayout(client, layout, keyPrefix).catch((err: Error) => logger.error({ err: err.message }, "redis store: key layout check failed"));
    for (const listener of [...resetListeners]) listener();
    return true;
  };
  let eventReader: Awaited<ReturnType<typeof startEventReader>>;
  let durability: Awaited<ReturnType<typeof createDurability>>;
  try {
    await checkLayout(client, layout, keyPrefix);
    durability = await createDurability(writer, slotKeys, options.durableWrites, logger);
    epochs = await claimEpochs();
    eventReader = await startEventReader({
      streamKeys: layout.streams,
      readers,
      logger,
      deliver,
      runtimeEnded: (runtimeId, cause) => {
        for (const listener of [...endedListeners]) listener(runtimeId, cause);
      },
      credentialEnded: (digest, runtimeId) => {
        for (const listener of [...credentialListeners]) listener(digest, runtimeId);
      },
      ownDeliveryTimeoutMs: ownEventTimeoutMs,
      feed,
      blockMs: Math.max(1, Math.floor(feedSilenceMs / 2)),
    });
  } catch (err) {
    await closeAll();
    throw err;
  }
  client.on("ready", () => {
    connected = true;
    logger.info("redis store: connection restored");
    checkReset().then(
      (reset) => (reset ? undefined : reconcile()),
      (err: Error) => logger.debug({ err: err.message }, "redis store: epoch check failed"),
    );
  });

  /**
   * A new primary (fail-over) may lack writes the old one acknowledged or half-did: re-apply this host's
   * recent security writes. Their steps are idempotent and emit events only for what they remove again.
   */
  const reconcile = async () => {
    if (!(await durability.primaryChanged())) return;
    feed.broken("new primary"); // it may lack writes whose events were seen: caches start afresh
    await checkReset(); // a primary that restarted empty has a new run id too
    const replays = durability.recent();
    let restored = 0;
    for (const replay of replays) {
      const result = await replay();
      const own = (Array.isArray(result) ? result : []).filter((e): e is OwnEvent => typeof e === "object" && e !== null && "stream" in e);
      restored += own.length;
      await eventReader.deliverOwn(own);
    }
    logger.warn({ reapplied: replays.length, removedAgain: restored }, "redis store: new Redis primary; re-applied recent revocations");
  };
  let reconciling: Promise<void> | undefined;
  const checkPrimary = () => {
    // One check at a time; a failed one (the old primary still listed) is retried by the next trigger.
    reconciling ??= reconcile()
      .catch((err: Error) => logger.debug({ err: err.message }, "redis store: primary check failed; retrying on the next trigger"))
      .finally(() => (reconciling = undefined));
  };
  writer.on("ready", checkPrimary);
  // A Cluster fails over without its client reconnecting as a whole: check after each slot-map change, and
  // every few seconds (one INFO per primary per host), since the new slot owner may be listed before it serves.
  let primaryTimer: NodeJS.Timeout | undefined;
  if (writer instanceof Cluster) {
    writer.on("refresh", checkPrimary);
    writer.on("+node", checkPrimary);
    primaryTimer = setInterval(() => {
      if (writer.status === "ready") checkPrimary();
    }, options.durableWrites === false ? 2_000 : options.durableWrites?.replicaCheckMs ?? 2_000);
    primaryTimer.unref();
  }

  const ctx: StoreContext = {
    client,
    run,
    plain,
    layout,
    origin,
    maxLen,
    ready,
    durable: durableWrite,
    deliverOwn: (events) => eventReader.deliverOwn(events),
    ttlUntil: (expiresAt) => Math.ceil(expiresAt - Date.now() + graceMs),
  };
  const credentials = createRedisCredentials(ctx);
  const { dropCredential, ...credentialMethods } = credentials;

  return {
    origin,
    feed,
    ...createRedisRuntimes(ctx, dropCredential),
    ...credentialMethods,
    ...createRedisEnrolments(client, run, layout, ready, durableWrite),
    ...createRedisRegistrations(ctx),

    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    onRuntimeEnded(listener) {
      endedListeners.add(listener);
      return () => {
        endedListeners.delete(listener);
      };
    },
    onCredentialEnded(listener) {
      credentialListeners.add(listener);
      return () => {
        credentialListeners.delete(listener);
      };
    },
    async ping() {
      // Ready means able to serve: a round trip of a script on every slot the store uses (a Cluster node that
      // does not serve one, a Sentinel given as a URL, a replica, a full script cache all answer false), not a PING.
      if (client.status !== "ready" || writer.status !== "ready") return false;
      try {
        const replies = await Promise.all(slotKeys.map((k) => run(scripts.READY_PROBE, [k], [])));
        return replies.every((r) => r === 1);
      } catch {
        return false;
      }
    },
    onReset(listener) {
      resetListeners.add(listener);
      return () => {
        resetListeners.delete(listener);
      };
    },
    async close() {
      listeners.clear();
      endedListeners.clear();
      credentialListeners.clear();
      resetListeners.clear();
      await eventReader.stop();
      if (primaryTimer) clearInterval(primaryTimer);
      writer.disconnect();
      if (ownsClient) await client.quit().catch(() => client.disconnect());
    },
  };
}
