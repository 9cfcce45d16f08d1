import { randomBytes } from "node:crypto";
import { decodeStoredRegistration } from "./redis-codec.js";
import { ownEvents, perBucket, splitIndexEntry, untrackRegistration, type StepRunner, type StoreContext } from "./redis-context.js";
import * as scripts from "./redis-scripts.js";
import type { RegistrationRecord, RemovalCause, Store } from "./types.js";

type RegistrationMethods = Pick<
  Store,
  | "putRegistration"
  | "getRegistration"
  | "removeRegistration"
  | "listRegistrations"
  | "pageRegistrations"
  | "registrationsAt"
  | "listRuntimeRegistrations"
  | "countRegistrations"
>;

/** KEYS: rt-regs:<runtimeId>, reg-rts. ARGV: runtimeId — forgets a runtime with no registrations left (none added meanwhile). */
export const TIDY_REGISTERED_RUNTIME = `
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return 1
`;

/**
 * Registrations live in their runtime's hash `rt-regs:<runtimeId>` (so a runtime's removal, health
 * change or lease end is one script with its events); `svc:<type>` (the service's bucket) maps
 * registrationId → "runtimeId nonce" for Discover and routing, `reg-rt:<registrationId>` (the id's
 * bucket) finds the runtime for a lookup by id. The index entries are written before the
 * registration (a watcher that hears `added` and lists the service finds it) and removed after
 * it, each only if still the one written (the nonce), so readers skip an entry whose registration
 * is not (or no longer) there.
 */
export function createRedisRegistrations(ctx: StoreContext): RegistrationMethods {
  const { client, run, layout, origin, maxLen, ready } = ctx;

  const drop = async (s: StepRunner, runtimeId: string, registrationId: string, cause: RemovalCause | "", silent: boolean) => {
    const k = layout.runtime(runtimeId);
    const tuple = await s.run(scripts.REMOVE_REGISTRATION, layout.runtimeKeyList(k), [runtimeId, registrationId, cause, origin, maxLen, silent ? "1" : "0"]);
    await untrackRegistration(s, layout, runtimeId, tuple);
    return { existed: Array.isArray(tuple), events: ownEvents(k.bucket, tuple ? [tuple] : []) };
  };

  /** The registrations `wanted` (registrationId → runtimeId) point at; entries of runtimes that are gone are dropped. */
  const readIndexed = async (serviceType: string, wanted: Map<string, string>): Promise<RegistrationRecord[]> => {
    const indexKey = layout.service(serviceType);
    const byRuntime = new Map<string, string[]>();
    for (const [rid, entry] of wanted) {
      const runtimeId = entry.slice(0, entry.indexOf(" "));
      byRuntime.set(runtimeId, [...(byRuntime.get(runtimeId) ?? []), rid]);
    }
    const found: RegistrationRecord[] = [];
    await Promise.all(
      [...byRuntime].map(async ([runtimeId, rids]) => {
        const values = await client.hmget(layout.runtime(runtimeId).regs, ...rids);
        const missing: string[] = [];
        values.forEach((value, i) => {
          const registration = decodeStoredRegistration(value);
          if (registration) found.push(registration);
          else missing.push(rids[i]!);
        });
        // Entries of a runtime that is gone (expired without a sweep, a host that died mid-removal) are stale:
        // no registration can come back under it. Others may be a registration on its way in.
        if (missing.length > 0 && (await client.exists(layout.runtime(runtimeId).rt)) === 0) {
          for (const rid of missing) await run(scripts.UNINDEX_REGISTRATION, [indexKey, layout.serviceOrder(serviceType)], [rid, wanted.get(rid)!]);
        }
      }),
    );
    return found.sort((a, b) => (a.registrationId < b.registrationId ? -1 : a.registrationId > b.registrationId ? 1 : 0));
  };
  /** The registrations of `ids` (of one service type, in order): their runtimes from the type's index, records from the runtimes. */
  const readOrdered = async (serviceType: string, ids: string[]): Promise<RegistrationRecord[]> => {
    if (ids.length === 0) return [];
    const entries = await client.hmget(layout.service(serviceType), ...ids);
    const wanted = new Map<string, string>();
    ids.forEach((id, i) => {
      if (entries[i]) wanted.set(id, entries[i]!);
    });
    return readIndexed(serviceType, wanted); // sorted by id: the order's own
  };

  const runtimeRegistrations = async (runtimeId: string) =>
    Object.values(await client.hgetall(layout.runtime(runtimeId).regs))
      .map(decodeStoredRegistration)
      .filter((r): r is RegistrationRecord => r !== undefined);

  return {
    async putRegistration(registration) {
      ready();
      const { registrationId: rid, runtimeId, serviceType } = registration;
      const k = layout.runtime(runtimeId);
      const nonce = randomBytes(6).toString("hex");
      const pointer = layout.registrationRuntime(rid);
      const previousRuntime = (await client.set(pointer, runtimeId, "GET")) as string | null;
      // The same id moved to another runtime (not done by the registry; kept for the Store contract): leave the old one quietly.
      const moved = previousRuntime !== null && previousRuntime !== runtimeId && (await drop(ctx.plain, previousRuntime, rid, "", true)).existed;
      await run(scripts.INDEX_REGISTRATION, [layout.service(serviceType), layout.serviceOrder(serviceType)], [rid, `${runtimeId} ${nonce}`]);
      const [tuple, previousEntry, ttl] = (await run(scripts.PUT_REGISTRATION, layout.runtimeKeyList(k), [
        rid,
        JSON.stringify(registration),
        registration.health,
        serviceType,
        runtimeId,
        nonce,
        origin,
        maxLen,
        moved ? "1" : "0",
      ])) as [unknown, string, number];
      if (ttl > 0) await client.pexpire(pointer, ttl);
      const [oldNonce, oldService] = splitIndexEntry(previousEntry);
      if (oldService && oldService !== serviceType) {
        await run(scripts.UNINDEX_REGISTRATION, [layout.service(oldService), layout.serviceOrder(oldService)], [rid, `${runtimeId} ${oldNonce}`]);
      }
      await ctx.deliverOwn(ownEvents(k.bucket, [tuple]));
    },
    async getRegistration(registrationId) {
      ready();
      const runtimeId = await client.get(layout.registrationRuntime(registrationId));
      if (runtimeId === null) return undefined;
      return decodeStoredRegistration(await client.hget(layout.runtime(runtimeId).regs, registrationId));
    },
    async removeRegistration(registrationId, cause) {
      ready();
      const runtimeId = await client.get(layout.registrationRuntime(registrationId));
      if (runtimeId === null) return undefined;
      const { events } = await ctx.durable(
        (s) => drop(s, runtimeId, registrationId, cause, false),
        async (s) => (await drop(s, runtimeId, registrationId, cause, false)).events,
      );
      await ctx.deliverOwn(events);
      const own = events[0];
      return own ? structuredClone(own.event.registration) : undefined;
    },
    async listRegistrations(serviceType) {
      ready();
      if (serviceType !== undefined) {
        return readIndexed(serviceType, new Map(Object.entries(await client.hgetall(layout.service(serviceType)))));
      }
      const lists = await perBucket(layout, async (b) => {
        const runtimes = await client.smembers(layout.bucketKey(b, "reg-rts"));
        return Promise.all(
          runtimes.map(async (runtimeId) => {
            const found = await runtimeRegistrations(runtimeId);
            if (found.length === 0) await run(TIDY_REGISTERED_RUNTIME, [layout.runtime(runtimeId).regs, layout.runtime(runtimeId).regRts], [runtimeId]);
            return found;
          }),
        );
      });
      return lists.flat(2);
    },
    async pageRegistrations(serviceType, afterId, limit) {
      ready();
      // Ids whose registration is gone are read past, so a short answer always means the end.
      const out: RegistrationRecord[] = [];
      let cursor = afterId;
      while (out.length < limit) {
        const want = limit - out.length;
        const ids = await client.zrangebylex(layout.serviceOrder(serviceType), cursor === undefined ? "-" : `(${cursor}`, "+", "LIMIT", 0, want);
        if (ids.length === 0) break;
        out.push(...(await readOrdered(serviceType, ids)));
        if (ids.length < want) break;
        cursor = ids[ids.length - 1];
      }
      return out;
    },
    async registrationsAt(serviceType, offset, limit) {
      ready();
      const ids = await client.zrange(layout.serviceOrder(serviceType), String(offset), String(offset + limit - 1));
      return readOrdered(serviceType, ids);
    },
    async listRuntimeRegistrations(runtimeId) {
      ready();
      return runtimeRegistrations(runtimeId);
    },
    async countRegistrations(of) {
      ready();
      return client.hlen("runtimeId" in of ? layout.runtime(of.runtimeId).regs : layout.service(of.serviceType));
    },
  };
}
