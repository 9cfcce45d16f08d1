import { eventFromScript } from "./redis-codec.js";
import type { OwnEvent } from "./redis-event-reader.js";
import type { KeyLayout } from "./redis-keys.js";
import type { ScriptRunner } from "./redis-script-runner.js";
import { DEL_IF, UNINDEX_REGISTRATION } from "./redis-scripts.js";
import type { RedisClient } from "./redis-source.js";

/** What the steps of a security write run on: scripts and plain commands (`touch` names a plain command's key). */
export interface StepRunner {
  run: ScriptRunner;
  client: RedisClient;
  touch(key: string): void;
}

/**
 * A security write: `steps` run on the durable-write connection, then WAIT on the primaries of every key
 * they touched (redis-durability.ts). `replay` (removals only) re-applies it on a new primary.
 */
export type DurableRunner = <T>(steps: (s: StepRunner) => Promise<T>, replay?: (s: StepRunner) => Promise<unknown>) => Promise<T>;

/** What the store's parts (runtimes, credentials, registrations) share. */
export interface StoreContext {
  client: RedisClient;
  run: ScriptRunner;
  /** `run` and `client` as one StepRunner, for steps shared by plain and durable writes. */
  plain: StepRunner;
  layout: KeyLayout;
  origin: string;
  maxLen: number;
  /** Throws while Redis is away (fail fast instead of queueing). */
  ready(): void;
  durable: DurableRunner;
  /** Delivers this host's own events before the write resolves (redis-event-reader.ts). */
  deliverOwn(events: OwnEvent[]): Promise<void>;
  /** PX for a runtime's keys: its expiresAt plus the grace during which a sweep removes it with events. */
  ttlUntil(expiresAt: number): number;
}

/** Script event tuples from bucket `stream` → own events (silent or empty tuples dropped). */
export function ownEvents(stream: number, tuples: unknown): OwnEvent[] {
  return (Array.isArray(tuples) ? tuples : []).map((t) => eventFromScript(stream, t)).filter((e) => e !== undefined);
}

/**
 * After a registration left its runtime's hash (the step that counts: readers find registrations
 * there), its service index entry and id pointer go — each only if still the one that registration
 * wrote, so a re-registration meanwhile keeps its own. `tuple` ends with registrationId, "nonce svc".
 */
export async function untrackRegistration(s: StepRunner, layout: KeyLayout, runtimeId: string, tuple: unknown): Promise<void> {
  if (!Array.isArray(tuple) || tuple.length < 7) return;
  const rid = String(tuple[5]);
  const [nonce, serviceType] = splitIndexEntry(String(tuple[6]));
  if (serviceType) await s.run(UNINDEX_REGISTRATION, [layout.service(serviceType), layout.serviceOrder(serviceType)], [rid, `${runtimeId} ${nonce}`]);
  await s.run(DEL_IF, [layout.registrationRuntime(rid)], [runtimeId]);
}

/** "nonce serviceType" → [nonce, serviceType] ('' when empty). */
export function splitIndexEntry(entry: string): [string, string] {
  const space = entry.indexOf(" ");
  return space === -1 ? ["", ""] : [entry.slice(0, space), entry.slice(space + 1)];
}

/** Runs `fn` for every bucket in parallel (the buckets' keys live on different nodes of a Cluster). */
export function perBucket<T>(layout: KeyLayout, fn: (bucket: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: layout.buckets }, (_, b) => fn(b)));
}
