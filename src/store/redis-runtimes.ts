import { decodeRuntime, encodeRuntime, RUNTIME_FIELDS } from "./redis-codec.js";
import { ownEvents, perBucket, untrackRegistration, type StepRunner, type StoreContext } from "./redis-context.js";
import * as leaseScripts from "./redis-lease-scripts.js";
import * as scripts from "./redis-scripts.js";
import type { RemovalCause, RuntimeRecord, Store } from "./types.js";

type RuntimeMethods = Pick<
  Store,
  "putRuntime" | "getRuntime" | "listRuntimes" | "countRuntimes" | "setHealth" | "setRuntimeExpiry" | "removeRuntime" | "renewLease" | "sweepLeases" | "sweep"
>;

/**
 * Runtimes: each one's record, registrations and credential index in its bucket (one script per change);
 * the expiry and lease indexes are per bucket, so listing, counting and sweeping visit every bucket.
 */
export function createRedisRuntimes(
  ctx: StoreContext,
  dropCredential: (s: StepRunner, digest: string, expiredBy: number | "", ofRuntime?: string) => Promise<boolean>,
): RuntimeMethods {
  const { client, run, layout, origin, maxLen, ready } = ctx;

  const indexName = (s: StepRunner, name: string, runtimeId: string, expiresAt: number, remove = false) =>
    s.run(scripts.INDEX_NAME, [layout.runtimeName(name)], [runtimeId, expiresAt, ctx.ttlUntil(expiresAt), Date.now(), remove ? "1" : "0"]);

  /**
   * Removes a runtime: one script on its bucket deletes the record (the revocation: its credentials are
   * accepted only while it is live), its registrations (with events) and its credential index; then the
   * credentials' own keys, the service index entries and the name index are tidied, each idempotently.
   */
  const removeRuntime = async (s: StepRunner, runtimeId: string, cause: RemovalCause, expiredBy: number | "") => {
    const k = layout.runtime(runtimeId);
    const [removed, tuples, digests, name] = (await s.run(scripts.REMOVE_RUNTIME, layout.runtimeKeyList(k), [
      runtimeId, cause, origin, maxLen, expiredBy,
    ])) as [number, unknown[], string[], string];
    if (removed !== 1) return { removed: false, events: [] };
    for (const digest of digests) await dropCredential(s, digest, "", runtimeId);
    for (const tuple of tuples) await untrackRegistration(s, layout, runtimeId, tuple);
    if (name) await indexName(s, name, runtimeId, 0, true);
    return { removed: true, events: ownEvents(k.bucket, tuples) };
  };

  return {
    async putRuntime(runtime) {
      ready();
      const k = layout.runtime(runtime.runtimeId);
      // The name index (another bucket) in parallel: one round trip; a count may see the entry a moment early.
      const [previous] = (await Promise.all([run(scripts.PUT_RUNTIME, layout.runtimeKeyList(k), [
        runtime.runtimeId,
        encodeRuntime(runtime),
        runtime.health,
        runtime.healthMessage,
        runtime.healthReportedAt,
        runtime.expiresAt,
        ctx.ttlUntil(runtime.expiresAt),
        runtime.pluginName,
      ]), indexName(ctx.plain, runtime.pluginName, runtime.runtimeId, runtime.expiresAt)])) as [string, unknown];
      if (previous && previous !== runtime.pluginName) await indexName(ctx.plain, previous, runtime.runtimeId, 0, true);
    },
    async getRuntime(runtimeId) {
      ready();
      const runtime = decodeRuntime(await client.hmget(layout.runtime(runtimeId).rt, ...RUNTIME_FIELDS));
      return runtime && runtime.expiresAt > Date.now() ? runtime : undefined;
    },
    async listRuntimes() {
      ready();
      const now = Date.now();
      const ids = (await perBucket(layout, (b) => client.zrangebyscore(layout.bucketKey(b, "rt-exp"), `(${now}`, "+inf"))).flat();
      const records = await Promise.all(ids.map((id) => client.hmget(layout.runtime(id).rt, ...RUNTIME_FIELDS)));
      return records.map(decodeRuntime).filter((r): r is RuntimeRecord => r !== undefined && r.expiresAt > now);
    },
    async countRuntimes(pluginName) {
      ready();
      const live = `(${Date.now()}`;
      if (pluginName !== undefined) return client.zcount(layout.runtimeName(pluginName), live, "+inf");
      const counts = await perBucket(layout, (b) => client.zcount(layout.bucketKey(b, "rt-exp"), live, "+inf"));
      return counts.reduce((sum, n) => sum + n, 0);
    },
    async setHealth(runtimeId, health, message, at) {
      ready();
      const k = layout.runtime(runtimeId);
      const tuples = await run(scripts.SET_HEALTH, layout.runtimeKeyList(k), [runtimeId, health, message, at, origin, maxLen]);
      await ctx.deliverOwn(ownEvents(k.bucket, tuples));
    },
    async setRuntimeExpiry(runtimeId, expiresAt) {
      ready();
      const k = layout.runtime(runtimeId);
      const name = (await run(scripts.SET_RUNTIME_EXPIRY, layout.runtimeKeyList(k), [runtimeId, expiresAt, ctx.ttlUntil(expiresAt)])) as string | null;
      if (name) await indexName(ctx.plain, name, runtimeId, expiresAt);
    },
    async removeRuntime(runtimeId, cause) {
      ready();
      const { removed, events } = await ctx.durable(
        (s) => removeRuntime(s, runtimeId, cause, ""),
        async (s) => (await removeRuntime(s, runtimeId, cause, "")).events,
      );
      await ctx.deliverOwn(events);
      return removed;
    },

    async renewLease(runtimeId, until) {
      ready();
      await run(leaseScripts.RENEW_LEASE, layout.runtimeKeyList(layout.runtime(runtimeId)), [runtimeId, until]);
    },
    async sweepLeases(now) {
      ready();
      // All buckets answer first, or no lease ends: with one node away, heartbeats fail (their credentials may
      // live there) while leases on the other nodes run out. The host treats a failed sweep as an outage and,
      // once the store answers again, lets live runtimes renew before it sweeps (src/lifecycle/leases.ts).
      const due = await perBucket(layout, (b) => client.zrangebyscore(layout.bucketKey(b, "lease"), "-inf", now, "LIMIT", 0, 1000));
      let ended = 0;
      for (const id of due.flat()) {
        const k = layout.runtime(id);
        const [done, tuples] = (await run(leaseScripts.END_LEASE, layout.runtimeKeyList(k), [id, now, origin, maxLen])) as [number, unknown[]];
        for (const tuple of tuples) await untrackRegistration(ctx.plain, layout, id, tuple);
        await ctx.deliverOwn(ownEvents(k.bucket, tuples));
        if (done === 1) ended++;
      }
      return ended;
    },
    async sweep(now) {
      ready();
      // Keys expire by TTL on Redis's clock anyway; this honours the host's `now` and keeps the indexes small.
      await perBucket(layout, async (b) => {
        for (const digest of await client.zrangebyscore(layout.bucketKey(b, "cred-exp"), "-inf", now, "LIMIT", 0, 1000)) {
          await dropCredential(ctx.plain, digest, now);
        }
      });
      // Runtimes are removed by script so the cascade emits `removed` events, exactly once across all hosts.
      const ended = await perBucket(layout, async (b) => {
        let count = 0;
        for (const id of await client.zrangebyscore(layout.bucketKey(b, "rt-exp"), "-inf", now, "LIMIT", 0, 1000)) {
          const { removed, events } = await removeRuntime(ctx.plain, id, "expired", now);
          await ctx.deliverOwn(events);
          if (removed) count++;
        }
        return count;
      });
      return ended.reduce((sum, n) => sum + n, 0);
    },
  };
}
