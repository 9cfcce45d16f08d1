import { Cluster, type Redis } from "ioredis";
import type { Logger } from "../log/index.js";
import { keySlot } from "./redis-keys.js";
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

/** Re-applies one security write on a new primary (idempotent; resolves to whatever events it produced again). */
export type Replay = () => Promise<unknown>;

export interface Durability {
  /**
   * Resolves once `required` replicas of each primary holding one of `keys` have everything this
   * connection wrote there; rejects otherwise. Records `replay` first (removals only: re-applying a
   * grant could resurrect one revoked since).
   */
  confirm(keys: readonly string[], replay?: Replay): Promise<void>;
  /** The recent security writes, oldest first, for reconciliation on a new primary. */
  recent(): Replay[];
  /** Reads the primaries' run ids; true when one is new (a fail-over or restart). */
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
 * closes that window (at the cost of one replica round trip per primary a security write touched); a
 * bounded list of recent ones, re-applied when a primary changes, covers writes that were answered
 * Unavailable but still reached the old primary, and anything else lost in between.
 */
export async function createDurability(
  client: RedisClient,
  /** A key per slot the store uses: reading them makes a Cluster client notice a moved slot. */
  slotKeys: readonly string[],
  options: DurableWritesOptions | false | undefined,
  logger: Logger,
): Promise<Durability> {
  const opts = options === false ? { replicas: 0 } : options ?? {};
  if (opts.replicas !== "auto" && opts.replicas !== undefined) nonNegative("replicas", opts.replicas, 0);
  const timeoutMs = nonNegative("timeoutMs", opts.timeoutMs, 1_000);
  const checkMs = nonNegative("replicaCheckMs", opts.replicaCheckMs, 5_000);
  const limit = nonNegative("recentLimit", opts.recentLimit, 1_000);
  const recent: Replay[] = [];

  // WAIT counts the writes of the connection it runs on: in a Cluster, the node serving each key's slot.
  const primaryOf = (key: string): Redis => {
    if (!(client instanceof Cluster)) return client;
    const nodeKey = client.slots[keySlot(key)]?.[0];
    const node = client.nodes("master").find((n) => `${n.options.host}:${n.options.port}` === nodeKey);
    if (!node) {
      client.refreshSlotsCache(); // its owner changed: ask the cluster; the next attempt finds it
      throw new Error("Redis store: no primary known for a key's slot");
    }
    return node;
  };
  const primaries = (keys: readonly string[]) => [...new Set(keys.map(primaryOf))];
  const allPrimaries = (): Redis[] => (client instanceof Cluster ? client.nodes("master") : [client]);

  const autoReplicas = new Map<Redis, { count: number; at: number }>();
  const required = async (node: Redis) => {
    if (typeof opts.replicas === "number") return opts.replicas;
    const known = autoReplicas.get(node);
    if (known && Date.now() - known.at < checkMs) return known.count;
    const slaves = Number(infoField(await node.info("replication"), "connected_slaves") ?? 0);
    const count = slaves > 0 ? 1 : 0;
    autoReplicas.set(node, { count, at: Date.now() });
    return count;
  };
  const waitFor = async (node: Redis) => {
    const want = await required(node);
    if (want === 0) return;
    const acked = (await node.call("WAIT", want, timeoutMs)) as number;
    if (acked < want) {
      logger.warn({ acked, want, timeoutMs }, "redis store: a security write was not confirmed by the replicas");
      throw new Error(`Redis store: write confirmed by ${acked} of ${want} replica(s) within ${timeoutMs} ms`);
    }
  };

  const seenRunIds = new Set<string>();
  const readRunIds = async () => {
    // Keyed commands through the Cluster client follow MOVED and refresh a stale slot map (a fail-over).
    if (client instanceof Cluster) await Promise.all(slotKeys.map((k) => client.exists(k)));
    return Promise.all(allPrimaries().map(async (node) => infoField(await node.info("server"), "run_id") ?? ""));
  };
  for (const id of await readRunIds()) seenRunIds.add(id);

  return {
    async confirm(keys, replay) {
      if (replay && limit > 0) {
        recent.push(replay);
        if (recent.length > limit) recent.shift();
      }
      await Promise.all(primaries(keys).map(waitFor));
    },
    recent: () => [...recent],
    async primaryChanged() {
      const current = await readRunIds();
      const fresh = current.filter((id) => !seenRunIds.has(id));
      for (const id of fresh) seenRunIds.add(id);
      if (fresh.length > 0) autoReplicas.clear();
      return fresh.length > 0;
    },
  };
}
