import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { Redis, type RedisOptions } from "ioredis";
import { silentLogger, type Logger } from "../log/index.js";
import {
  decodeCredential,
  decodeRegistration,
  decodeRuntime,
  encodeRuntime,
  eventFromScript,
  RUNTIME_FIELDS,
} from "./redis-codec.js";
import { startEventReader } from "./redis-event-reader.js";
import { createScriptRunner } from "./redis-script-runner.js";
import { createRedisEnrolments } from "./redis-enrolments.js";
import * as scripts from "./redis-scripts.js";
import type { RegistrationRecord, RemovalCause, Store, StoreEvent } from "./types.js";

export interface RedisStoreOptions {
  /** redis:// or rediss:// URL; the store opens and owns its connections. */
  url?: string;
  /** An existing ioredis client (not Cluster). The store duplicates it for its stream reader and leaves it open on close(). */
  client?: Redis;
  /** Namespace for every key, so several deployments can share one Redis. Default "plugboard:". */
  keyPrefix?: string;
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

/** Store operations fail fast while Redis is away instead of queueing: the host answers Unavailable. */
const connectionOptions: Partial<RedisOptions> = { maxRetriesPerRequest: 0, enableOfflineQueue: true };

function waitForReady(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === "ready") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off("ready", onReady);
      reject(new Error(`Redis store: not connected after ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once("ready", onReady);
  });
}

/**
 * Shared state for several hosts behind a load balancer. Records expire with PX TTLs,
 * cascades run as Lua scripts, and every registration change is appended to one Redis
 * Stream that every host follows, so a watcher on any host sees every change once.
 */
export async function createRedisStore(options: RedisStoreOptions): Promise<RedisStore> {
  if ((options.url === undefined) === (options.client === undefined)) {
    throw new TypeError("createRedisStore: give exactly one of url or client");
  }
  const prefix = options.keyPrefix ?? "plugboard:";
  if (typeof prefix !== "string" || prefix.length === 0) throw new TypeError("keyPrefix must be a non-empty string");
  const logger = options.logger ?? silentLogger();
  const graceMs = positive("expiredGraceMs", options.expiredGraceMs, 60_000);
  const maxLen = positive("eventStreamMaxLen", options.eventStreamMaxLen, 10_000);
  const connectTimeoutMs = positive("connectTimeoutMs", options.connectTimeoutMs, 5_000);
  const commandTimeoutMs = positive("commandTimeoutMs", options.commandTimeoutMs, 5_000);
  const ownEventTimeoutMs = positive("ownEventTimeoutMs", options.ownEventTimeoutMs, 1_000);
  const origin = `${options.hostId ?? `${hostname()}-${process.pid}`}/${randomBytes(6).toString("hex")}`;

  if (options.client?.options.keyPrefix) {
    // ioredis would prefix command keys but not the keys our Lua scripts build: they would disagree.
    throw new TypeError("createRedisStore: use the store's keyPrefix option, not the client's");
  }
  const ownsClient = options.client === undefined;
  const client =
    options.client ?? new Redis(options.url!, { ...connectionOptions, commandTimeout: commandTimeoutMs, lazyConnect: false });
  const reader = client.duplicate({
    ...connectionOptions,
    lazyConnect: false,
    commandTimeout: undefined,
    connectionName: "plugboard-events",
  });

  // ioredis reconnects by itself; we only keep the logs quiet and useful (no URLs: they may hold a password).
  let connected = client.status === "ready";
  client.on("error", (err: Error) => logger.debug({ err: err.message }, "redis connection error"));
  reader.on("error", (err: Error) => logger.debug({ err: err.message }, "redis event connection error"));
  client.on("close", () => {
    if (connected) logger.warn("redis store: connection lost; operations fail until it is back");
    connected = false;
  });

  const closeAll = async () => {
    reader.disconnect();
    if (ownsClient) client.disconnect();
  };
  if (client.status === "wait") client.connect().catch(() => {}); // a caller's lazyConnect client; errors surface below
  try {
    await Promise.all([waitForReady(client, connectTimeoutMs), waitForReady(reader, connectTimeoutMs)]);
  } catch (err) {
    await closeAll();
    throw err;
  }
  connected = true;

  const run = createScriptRunner(client);
  const key = (...parts: string[]) => prefix + parts.join("");
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

  // A marker that lives as long as the data: if it is gone after a reconnect, so is everything else.
  const epochKey = key("epoch");
  const claimEpoch = async () => {
    await client.set(epochKey, randomBytes(8).toString("hex"), "NX");
    return client.get(epochKey);
  };
  let epoch: string | null;
  let eventReader: Awaited<ReturnType<typeof startEventReader>>;
  try {
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
        if (current === epoch) return;
        epoch = current;
        logger.warn("redis store: Redis came back without its data; live plugins must register again");
        for (const listener of [...resetListeners]) listener();
      },
      (err: Error) => logger.debug({ err: err.message }, "redis store: epoch check failed"),
    );
  });

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
      const [removed, events] = (await run(scripts.REMOVE_RUNTIME, [prefix, runtimeId, cause, origin, maxLen, ""])) as [
        number,
        unknown[],
      ];
      await deliverScriptEvents(events);
      return removed === 1;
    },

    async putCredential(digest, record) {
      ready();
      await run(scripts.PUT_CREDENTIAL, [
        prefix,
        digest,
        JSON.stringify(record),
        record.id,
        record.runtimeId,
        Math.ceil(record.expiresAt - Date.now()),
        record.expiresAt,
      ]);
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
      await run(scripts.DELETE_CREDENTIAL, [prefix, digest]);
    },
    async rotateCredential(oldId, newDigest, record, now) {
      ready();
      const rotated = await run(scripts.ROTATE_CREDENTIAL, [
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
      ]);
      return rotated === 1;
    },

    ...createRedisEnrolments(client, run, prefix, ready),

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
      const tuple = await run(scripts.REMOVE_REGISTRATION, [prefix, registrationId, cause, origin, maxLen]);
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
      if (client.status !== "ready") return false;
      try {
        return (await client.ping()) === "PONG";
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
      if (ownsClient) await client.quit().catch(() => client.disconnect());
    },
  };
}
