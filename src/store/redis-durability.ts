import { Cluster, type Redis } from "ioredis";
import type { Logger } from "../log/index.js";
import { infoField, type RedisClient } from "./redis-source.js";

export interface DurableWritesOptions {
  /**
   * How many replicas must hold a security write (revocation, unregister, grant revoke, token
   * issue/refresh) before it is acknowledged: a number, or "auto" (default): 1 when the primary
   * reports connected replicas (INFO replication, re-read every `replicaCheckMs`), else 0.
   */
  replicas?: number | "auto";
  /** How long WAIT waits for them; when they do not confirm, the write answers Unavailable (retry). Default 1 s. */
  timeoutMs?: number;
  /** How often "auto" re-reads the replica count. Default 5 s. */
  replicaCheckMs?: number;
  /** How many recent security writes this host re-applies on a new primary. Default 1 000. */
  recentLimit?: number;
}

/** A write to re-apply on a new primary: a script and its arguments (idempotent scripts only). */
export interface Replayable {
  script: string;
  args: Array<string | number>;
}

export interface Durability {
  /**
   * Resolves once `required` replicas hold everything this connection wrote; rejects otherwise.
   * Records `replay` first (removals only: re-applying a grant could resurrect one revoked since).
   */
  confirm(replay?: Replayable): Promise<void>;
  /** The recent security writes, oldest first, for reconciliation on a new primary. */
  recent(): Replayable[];
  /** Reads the primary's run id; true when it differs from the one seen before (a fail-over or restart). */
  primaryChanged(): Promise<boolean>;
}

const nonNegative = (name: string, v: number | undefined, fallback: number) => {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < 0) throw new TypeError(`durableWrites.${name} must be a non-negative integer`);
  return v;
};

/**
 * Redis replicates asynchronously: a primary that dies right after a write may hand its role to a
 * replica that never saw it, so an acknowledged revocation would come undone. WAIT after such writes
 * closes that window (at the cost of one replica round trip per security write); a bounded list of
 * recent ones, re-applied when the primary changes, covers writes that were answered Unavailable
 * but still reached the old primary, and anything else lost in between.
 */
export async function createDurability(
  client: RedisClient,
  anchorKey: string,
  options: DurableWritesOptions | false | undefined,
  logger: Logger,
): Promise<Durability> {
  const opts = options === false ? { replicas: 0 } : options ?? {};
  if (opts.replicas !== "auto" && opts.replicas !== undefined) nonNegative("replicas", opts.replicas, 0);
  const timeoutMs = nonNegative("timeoutMs", opts.timeoutMs, 1_000);
  const checkMs = nonNegative("replicaCheckMs", opts.replicaCheckMs, 5_000);
  const limit = nonNegative("recentLimit", opts.recentLimit, 1_000);
  const recent: Replayable[] = [];

  // WAIT counts the writes of the connection it runs on: in a Cluster, the node serving our slot.
  const slot = client instanceof Cluster ? Number(await client.call("CLUSTER", "KEYSLOT", anchorKey)) : 0;
  const primary = (): Redis => {
    if (!(client instanceof Cluster)) return client;
    const nodeKey = client.slots[slot]?.[0];
    const node = client.nodes("master").find((n) => `${n.options.host}:${n.options.port}` === nodeKey);
    if (!node) {
      client.refreshSlotsCache(); // its owner changed: ask the cluster; the next attempt finds it
      throw new Error("Redis store: no primary known for the store's slot");
    }
    return node;
  };

  let autoReplicas = 0;
  let checkedAt = -Infinity;
  const required = async () => {
    if (typeof opts.replicas === "number") return opts.replicas;
    if (Date.now() - checkedAt >= checkMs) {
      const slaves = Number(infoField(await primary().info("replication"), "connected_slaves") ?? 0);
      autoReplicas = slaves > 0 ? 1 : 0;
      checkedAt = Date.now();
    }
    return autoReplicas;
  };

  let runId: string | undefined;
  const readRunId = async () => {
    // A keyed command through the Cluster client follows MOVED and refreshes a stale slot map (a fail-over).
    if (client instanceof Cluster) await client.exists(anchorKey);
    return infoField(await primary().info("server"), "run_id");
  };
  runId = await readRunId();

  return {
    async confirm(replay) {
      if (replay && limit > 0) {
        recent.push(replay);
        if (recent.length > limit) recent.shift();
      }
      const want = await required();
      if (want === 0) return;
      const acked = (await primary().call("WAIT", want, timeoutMs)) as number;
      if (acked < want) {
        logger.warn({ acked, want, timeoutMs }, "redis store: a security write was not confirmed by the replicas");
        throw new Error(`Redis store: write confirmed by ${acked} of ${want} replica(s) within ${timeoutMs} ms`);
      }
    },
    recent: () => [...recent],
    async primaryChanged() {
      const current = await readRunId();
      const changed = runId !== undefined && current !== runId;
      runId = current;
      if (changed) checkedAt = -Infinity;
      return changed;
    },
  };
}
