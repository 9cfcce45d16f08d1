import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { Cluster, Redis } from "ioredis";
import { silentLogger, type Logger } from "../log/index.js";
import {
  decodeCredential,
  decodeRegistration,
  decodeRuntime,
  encodeRuntime,
  eventFromScript,
  RUNTIME_FIELDS,
} from "./redis-codec.js";
import { createDurability, type DurableWritesOptions, type Replayable } from "./redis-durability.js";
import { startEventReader } from "./redis-event-reader.js";
import { createScriptRunner } from "./redis-script-runner.js";
import { createRedisEnrolments } from "./redis-enrolments.js";
import * as scripts from "./redis-scripts.js";
import * as leaseScripts from "./redis-lease-scripts.js";
import { checkRedisMode, connectRedis, diagnoseSourceMode, validateRedisSource, type RedisClient, type RedisSource } from "./redis-source.js";
import type { RegistrationRecord, RemovalCause, Store, StoreEvent } from "./types.js";

export interface RedisStoreOptions {
  /** redis:// or rediss:// URL; the store opens and owns its connections. Same as `source: url`. */
  url?: string;
  /** A URL, `{ url }`, `{ sentinels, name, … }` or `{ cluster, … }`; the store opens and owns its connections. */
  source?: RedisSource;
  /** An existing ioredis client or Cluster. The store duplicates it for its stream reader and durable writes, and leaves it open on close(). */
  client?: RedisClient;
  /**
   * Namespace for every key, so several deployments can share one Redis. Default "plugboard:". Keys are
   * `{name}:…` (a Redis Cluster hash tag: one deployment's keys share one slot); a prefix that already
   * holds `{…}` is used as is.
   */
  keyPrefix?: string;
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
  /** Approximate cap on the shared event stream (XADD MAXLEN ~). A host offline longer than this many events loses the gap. Default 10 000. */
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
}

export interface RedisStore extends Store {
  /** This store instance's name on the stream entries it writes (hostId plus a random suffix). */
  readonly origin: string;
  /**
   * Called when Redis comes back without this deployment's data (restart without persistence, FLUSHALL):
   * runtimes, credentials and registrations are gone, so the host should make live plugins handshake again.
   */
  onReset(listener: () => void): () => void;
}

const positive = (name: string, value: number | undefined, fallback: number) => {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer`);
  return value;
};

/** `{name}:` from "name:" so every key of the deployment hashes to one Cluster slot. */
export function taggedPrefix(prefix: string): string {
  return prefix.includes("{") ? prefix : `{${prefix.replace(/:$/, "")}}:`;
}

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
 * Shared state for several hosts behind a load balancer. Records expire with PX TTLs,
 * cascades run as Lua scripts, and every registration change is appended to one Redis
 * Stream that every host follows, so a watcher on any host sees every change once.
 */
export async function createRedisStore(options: RedisStoreOptions): Promise<RedisStore> {
  const given = [options.url, options.source, options.client].filter((v) => v !== undefined).length;
  if (given !== 1) throw new TypeError("createRedisStore: give exactly one of url, source or client");
  const source = options.client ? undefined : validateRedisSource(options.url ?? options.source, "source");
  const keyPrefix = options.keyPrefix ?? "plugboard:";
  if (typeof keyPrefix !== "string" || keyPrefix.length === 0) throw new TypeError("keyPrefix must be a non-empty string");
  const prefix = taggedPrefix(keyPrefix);
  const logger = options.logger ?? silentLogger();
  const graceMs = positive("expiredGraceMs", options.expiredGraceMs, 60_000);
  const maxLen = positive("eventStreamMaxLen", options.eventStreamMaxLen, 10_000);
  const connectTimeoutMs = positive("connectTimeoutMs", options.connectTimeoutMs, 5_000);
  const commandTimeoutMs = positive("commandTimeoutMs", options.commandTimeoutMs, 5_000);
  const ownEventTimeoutMs = positive("ownEventTimeoutMs", options.ownEventTimeoutMs, 1_000);
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
  const reader = open("plugboard-events", undefined);
  // Security writes and their WAIT on a connection of their own: WAIT blocks the connection it runs on.
  const writer = open("plugboard-durable", commandTimeoutMs);

  // ioredis reconnects by itself; we only keep the logs quiet and useful (no URLs: they may hold a password).
  let connected = client.status === "ready";
  client.on("error", (err: Error) => logger.debug({ err: err.message }, "redis connection error"));
  reader.on("error", (err: Error) => logger.debug({ err: err.message }, "redis event connection error"));
  writer.on("error", (err: Error) => logger.debug({ err: err.message }, "redis durable-write connection error"));
  client.on("close", () => {
    if (connected) logger.warn("redis store: connection lost; operations fail until it is back");
    connected = false;
  });

  const closeAll = async () => {
    reader.disconnect();
    writer.disconnect();
    if (ownsClient) client.disconnect();
  };
  if (client.status === "wait") client.connect().catch(() => {}); // a caller's lazyConnect client; errors surface below
  try {
    await Promise.all([client, reader, writer].map((c) => waitForReady(c, connectTimeoutMs)));
    if (source !== undefined && client instanceof Redis) await checkRedisMode(client, source);
  } catch (err) {
    await closeAll();
    const hint = source !== undefined ? await diagnoseSourceMode(source) : undefined;
    throw hint ? new Error(`Redis store: ${hint}`) : err;
  }
  connected = true;

  const key = (...parts: string[]) => prefix + parts.join("");
  const anchorKey = key("epoch");
  const run = createScriptRunner(client, anchorKey);
  const runDurable = createScriptRunner(writer, anchorKey);
  const listeners = new Set<(event: StoreEvent) => void>();
  const endedListeners = new Set<(runtimeId: string, cause: RemovalCause) => void>();
  const resetListeners = new Set<() => void>();

  const deliver = (event: StoreEvent) => {
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch (err) {
        logger.error({ err }, "store event listener threw");
      }
    }
  };
  /** This host's own changes reach its listeners through the stream too (one order for all), before the write resolves. */
  const deliverScriptEvents = async (tuples: unknown) => {
    const own = (Array.isArray(tuples) ? tuples : []).map(eventFromScript).filter((e) => e !== undefined);
    await eventReader.deliverOwn(own);
  };

  /** Fail fast while disconnected: ioredis would otherwise queue the command until Redis is back. */
  const ready = () => {
    if (client.status !== "ready") throw new Error("Redis store unavailable");
  };
  /** A security write: acknowledged only once the replicas hold it (see redis-durability.ts). */
  const durableWrite = async (script: string, args: Array<string | number>, replayable: boolean): Promise<unknown> => {
    if (writer.status !== "ready") throw new Error("Redis store unavailable");
    const result = await runDurable(script, args);
    await durability.confirm(replayable ? { script, args } : undefined);
    return result;
  };

  // A marker that lives as long as the data: if it is gone after a reconnect, so is everything else.
  const epochKey = anchorKey;
  const claimEpoch = async () => {
    await client.set(epochKey, randomBytes(8).toString("hex"), "NX");
    return client.get(epochKey);
  };
  let epoch: string | null;
  let eventReader: Awaited<ReturnType<typeof startEventReader>>;
  let durability: Awaited<ReturnType<typeof createDurability>>;
  try {
    durability = await createDurability(writer, anchorKey, options.durableWrites, logger);
    epoch = await claimEpoch();
    eventReader = await startEventReader({
      reader,
      streamKey: key("events"),
      logger,
      deliver,
      runtimeEnded: (runtimeId, cause) => {
        for (const listener of [...endedListeners]) listener(runtimeId, cause);
      },
      ownDeliveryTimeoutMs: ownEventTimeoutMs,
    });
  } catch (err) {
    await closeAll();
    throw err;
  }
  client.on("ready", () => {
    connected = true;
    logger.info("redis store: connection restored");
    claimEpoch().then(
      (current) => {
        if (current === epoch) return reconcile();
        epoch = current;
        logger.warn("redis store: Redis came back without its data; live plugins must register again");
        for (const listener of [...resetListeners]) listener();
      },
      (err: Error) => logger.debug({ err: err.message }, "redis store: epoch check failed"),
    );
  });

  /**
   * A new primary (fail-over) may lack writes the old one acknowledged or half-did: re-apply this host's
   * recent security writes. Their scripts are idempotent and emit events only for what they remove again.
   */
  const reconcile = async () => {
    if (!(await durability.primaryChanged())) return;
    const replays = durability.recent();
    let restored = 0;
    for (const { script, args } of replays) {
      const result = await run(script, args);
      const events = script === scripts.REMOVE_REGISTRATION ? [result] : Array.isArray(result) ? (result[1] as unknown) : [];
      const own = (Array.isArray(events) ? events : []).map(eventFromScript).filter((e) => e !== undefined);
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
  // every few seconds (one INFO per host), since the new slot owner may be listed before it serves.
  let primaryTimer: NodeJS.Timeout | undefined;
  if (writer instanceof Cluster) {
    writer.on("refresh", checkPrimary);
    writer.on("+node", checkPrimary);
    primaryTimer = setInterval(() => {
      if (writer.status === "ready") checkPrimary();
    }, options.durableWrites === false ? 2_000 : options.durableWrites?.replicaCheckMs ?? 2_000);
    primaryTimer.unref();
  }

  const ttlUntil = (expiresAt: number) => Math.ceil(expiresAt - Date.now() + graceMs);

  const readRegistrations = async (ids: string[], indexKey: string): Promise<RegistrationRecord[]> => {
    if (ids.length === 0) return [];
    const pipeline = client.pipeline();
    for (const id of ids) pipeline.hmget(key("reg:", id), "rec", "h");
    const replies = (await pipeline.exec()) ?? [];
    const found: RegistrationRecord[] = [];
    const stale: string[] = [];
    replies.forEach(([err, fields], i) => {
      if (err) throw err;
      const [rec, health] = fields as Array<string | null>;
      const registration = decodeRegistration(rec, health);
      if (registration) found.push(registration);
      else stale.push(ids[i]!);
    });
    // Index members whose record expired with its runtime: tidy up lazily.
    if (stale.length > 0) await run(scripts.TIDY_REGISTRATION_INDEX, [prefix, indexKey, ...stale]);
    return found;
  };

  /** The records of `ids` (of one service type), in order; ids whose record expired with its runtime are tidied from both indexes. */
  const readOrderedRecords = async (serviceType: string, ids: string[]): Promise<RegistrationRecord[]> => {
    if (ids.length === 0) return [];
    const pipeline = client.pipeline();
    for (const id of ids) pipeline.hmget(key("reg:", id), "rec", "h");
    const replies = (await pipeline.exec()) ?? [];
    const found: RegistrationRecord[] = [];
    const stale: string[] = [];
    replies.forEach(([err, fields], i) => {
      if (err) throw err;
      const [rec, health] = fields as Array<string | null>;
      const registration = decodeRegistration(rec, health);
      if (registration) found.push(registration);
      else stale.push(ids[i]!);
    });
    if (stale.length > 0) await run(scripts.TIDY_SERVICE_ORDER, [prefix, serviceType, ...stale]);
    return found;
  };
  /**
   * Reads ids from a type's sorted set. The first read of a type in this process first brings the
   * sorted set in line with the type's set (data written before the sorted set existed): one script,
   * O(1) when they agree.
   */
  const syncedOrders = new Set<string>();
  const orderedIds = async (serviceType: string, read: () => Promise<string[]>): Promise<string[]> => {
    if (!syncedOrders.has(serviceType)) {
      await run(scripts.SYNC_SERVICE_ORDER, [prefix, serviceType]);
      if (syncedOrders.size >= 10_000) syncedOrders.clear();
      syncedOrders.add(serviceType);
    }
    return read();
  };
  /**
   * Up to `limit` live registrations after `afterId` in the type's order. Ids whose record expired
   * with its runtime are tidied and read past, so a short answer always means the end.
   */
  const readServiceOrder = async (
    serviceType: string,
    limit: number,
    range: (afterId: string | undefined, n: number) => Promise<string[]>,
    afterId: string | undefined,
  ): Promise<RegistrationRecord[]> => {
    const out: RegistrationRecord[] = [];
    let cursor = afterId;
    let first = true;
    while (out.length < limit) {
      const want = limit - out.length;
      const ids = first ? await orderedIds(serviceType, () => range(cursor, want)) : await range(cursor, want);
      first = false;
      if (ids.length === 0) break;
      out.push(...(await readOrderedRecords(serviceType, ids)));
      if (ids.length < want) break;
      cursor = ids[ids.length - 1];
    }
    return out;
  };

  return {
    origin,

    async putRuntime(runtime) {
      ready();
      await run(scripts.PUT_RUNTIME, [
        prefix,
        runtime.runtimeId,
        encodeRuntime(runtime),
        runtime.health,
        runtime.healthMessage,
        runtime.healthReportedAt,
        runtime.expiresAt,
        ttlUntil(runtime.expiresAt),
        runtime.pluginName,
      ]);
    },
    async getRuntime(runtimeId) {
      ready();
      const runtime = decodeRuntime(await client.hmget(key("rt:", runtimeId), ...RUNTIME_FIELDS));
      return runtime && runtime.expiresAt > Date.now() ? runtime : undefined;
    },
    async listRuntimes() {
      ready();
      const now = Date.now();
      const ids = await client.zrangebyscore(key("rt-exp"), `(${now}`, "+inf");
      if (ids.length === 0) return [];
      const pipeline = client.pipeline();
      for (const id of ids) pipeline.hmget(key("rt:", id), ...RUNTIME_FIELDS);
      const replies = (await pipeline.exec()) ?? [];
      return replies
        .map(([err, fields]) => {
          if (err) throw err;
          return decodeRuntime(fields as Array<string | null>);
        })
        .filter((r) => r !== undefined && r.expiresAt > now) as Awaited<ReturnType<Store["listRuntimes"]>>;
    },
    async countRuntimes(pluginName) {
      ready();
      return client.zcount(key(pluginName === undefined ? "rt-exp" : `rt-name:${pluginName}`), `(${Date.now()}`, "+inf");
    },
    async setHealth(runtimeId, health, message, at) {
      ready();
      await deliverScriptEvents(await run(scripts.SET_HEALTH, [prefix, runtimeId, health, message, at, origin, maxLen]));
    },
    async setRuntimeExpiry(runtimeId, expiresAt) {
      ready();
      await run(scripts.SET_RUNTIME_EXPIRY, [prefix, runtimeId, expiresAt, ttlUntil(expiresAt)]);
    },
    async removeRuntime(runtimeId, cause) {
      ready();
      const args = [prefix, runtimeId, cause, origin, maxLen, ""];
      const [removed, events] = (await durableWrite(scripts.REMOVE_RUNTIME, args, true)) as [number, unknown[]];
      await deliverScriptEvents(events);
      return removed === 1;
    },

    async putCredential(digest, record) {
      ready();
      const args = [prefix, digest, JSON.stringify(record), record.id, record.runtimeId, Math.ceil(record.expiresAt - Date.now()), record.expiresAt];
      await durableWrite(scripts.PUT_CREDENTIAL, args, false);
    },
    async getCredential(digest) {
      ready();
      const record = decodeCredential(await client.hget(key("cred:", digest), "rec"));
      return record && record.expiresAt > Date.now() ? record : undefined;
    },
    async findCredentialById(id) {
      ready();
      const digest = await client.get(key("cred-id:", id));
      if (digest === null) return undefined;
      const record = decodeCredential(await client.hget(key("cred:", digest), "rec"));
      if (!record || record.id !== id || record.expiresAt <= Date.now()) return undefined;
      return { digest, record };
    },
    async deleteCredential(digest) {
      ready();
      await durableWrite(scripts.DELETE_CREDENTIAL, [prefix, digest], true);
    },
    async rotateCredential(oldId, newDigest, record, now) {
      ready();
      // Confirmed by the replicas like a revocation (the old token ends here), but not re-applied on a new
      // primary: replaying it after a later revocation of the new token could bring that token back.
      const rotated = await durableWrite(scripts.ROTATE_CREDENTIAL, [
        prefix,
        oldId,
        now,
        newDigest,
        JSON.stringify(record),
        record.id,
        record.runtimeId,
        Math.ceil(record.expiresAt - Date.now()),
        record.expiresAt,
        ttlUntil(record.expiresAt),
        record.kind,
      ], false);
      return rotated === 1;
    },

    ...createRedisEnrolments(client, run, prefix, ready, durableWrite),

    async putRegistration(registration) {
      ready();
      const event = await run(scripts.PUT_REGISTRATION, [
        prefix,
        registration.registrationId,
        JSON.stringify(registration),
        registration.health,
        registration.serviceType,
        registration.runtimeId,
        origin,
        maxLen,
      ]);
      await deliverScriptEvents([event]);
    },
    async getRegistration(registrationId) {
      ready();
      const [rec, health] = await client.hmget(key("reg:", registrationId), "rec", "h");
      return decodeRegistration(rec, health);
    },
    async removeRegistration(registrationId, cause) {
      ready();
      const tuple = await durableWrite(scripts.REMOVE_REGISTRATION, [prefix, registrationId, cause, origin, maxLen], true);
      const own = eventFromScript(tuple);
      if (!own) return undefined;
      await eventReader.deliverOwn([own]);
      return structuredClone(own.event.registration);
    },
    async listRegistrations(serviceType) {
      ready();
      const indexKey = serviceType === undefined ? key("regs") : key("svc:", serviceType);
      return readRegistrations(await client.smembers(indexKey), indexKey);
    },

    async pageRegistrations(serviceType, afterId, limit) {
      ready();
      return readServiceOrder(serviceType, limit, (from, n) =>
        client.zrangebylex(key("svc-order:", serviceType), from === undefined ? "-" : `(${from}`, "+", "LIMIT", 0, n),
      afterId);
    },
    async registrationsAt(serviceType, offset, limit) {
      ready();
      const ids = await orderedIds(serviceType, () => client.zrange(key("svc-order:", serviceType), String(offset), String(offset + limit - 1)));
      // Ids whose record expired are tidied and left out: a pick probes on from the next rank.
      return readOrderedRecords(serviceType, ids);
    },
    async listRuntimeRegistrations(runtimeId) {
      ready();
      const indexKey = key("rt-regs:", runtimeId);
      return readRegistrations(await client.smembers(indexKey), indexKey);
    },
    async countRegistrations(of) {
      ready();
      return client.scard("runtimeId" in of ? key("rt-regs:", of.runtimeId) : key("svc:", of.serviceType));
    },

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
    async renewLease(runtimeId, until) {
      ready();
      await run(leaseScripts.RENEW_LEASE, [prefix, runtimeId, until]);
    },
    async sweepLeases(now) {
      ready();
      const ids = await client.zrangebyscore(key("lease"), "-inf", now, "LIMIT", 0, 1000);
      let ended = 0;
      for (const id of ids) {
        const [removed, events] = (await run(leaseScripts.END_LEASE, [prefix, id, now, origin, maxLen])) as [number, unknown[]];
        await deliverScriptEvents(events);
        if (removed === 1) ended++;
      }
      return ended;
    },
    async sweep(now) {
      ready();
      await run(scripts.SWEEP_CREDENTIALS, [prefix, now]);
      // Runtimes are removed by script so the cascade emits `removed` events, exactly once across all hosts.
      const ids = await client.zrangebyscore(key("rt-exp"), "-inf", now, "LIMIT", 0, 1000);
      let ended = 0;
      for (const id of ids) {
        const [removed, events] = (await run(scripts.REMOVE_RUNTIME, [
          prefix,
          id,
          "expired",
          origin,
          maxLen,
          now,
        ])) as [number, unknown[]];
        await deliverScriptEvents(events);
        if (removed === 1) ended++;
      }
      return ended;
    },
    async ping() {
      // Ready means able to serve: a round trip of a script on the store's slot (a Cluster that does not
      // serve it, a Sentinel given as a URL, a replica, a full script cache all answer false), not a PING.
      if (client.status !== "ready" || writer.status !== "ready") return false;
      try {
        return (await run(scripts.READY_PROBE, [prefix])) === 1;
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
      resetListeners.clear();
      await eventReader.stop();
      if (primaryTimer) clearInterval(primaryTimer);
      writer.disconnect();
      if (ownsClient) await client.quit().catch(() => client.disconnect());
    },
  };
}
