/**
 * The Redis key layout (version 2): a deployment's keys are spread over `buckets` hash tags whose
 * Cluster slots are evenly spaced over the slot range, so any even split of the slots between
 * primaries gives each a share of the buckets (and of the load).
 *
 * A key's bucket is the bucket of the id that owns it: a runtime's record, its registrations, its
 * credential index, the bucket's expiry/lease indexes and the bucket's event stream share one slot,
 * so every script on a runtime is one atomic single-slot step that appends its events to the stream
 * of that slot (per-runtime, hence per-registration, order). Credentials live in their digest's
 * bucket (a token's digest is all a caller presents), services' indexes in their service's bucket.
 * On one Redis server the same layout works unchanged; a prefix that holds `{…}` puts everything in
 * that one slot, as before.
 */

export const LAYOUT_VERSION = 2;
export const DEFAULT_BUCKETS = 16;
const SLOTS = 16384;

/** CRC16-XMODEM, as Redis Cluster hashes keys. */
function crc16(text: string): number {
  let crc = 0;
  for (const byte of Buffer.from(text)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The Cluster slot of a key (its `{tag}` when it has a non-empty one). */
export function keySlot(key: string): number {
  const open = key.indexOf("{");
  if (open !== -1) {
    const close = key.indexOf("}", open + 1);
    if (close > open + 1) return crc16(key.slice(open + 1, close)) % SLOTS;
  }
  return crc16(key) % SLOTS;
}

/** `{name}:` from "name:"; a prefix that already holds `{…}` is used as is. */
export function taggedPrefix(prefix: string): string {
  return prefix.includes("{") ? prefix : `{${prefix.replace(/:$/, "")}}:`;
}

/** The keys of one runtime, all in its bucket (the same order in every runtime script's KEYS). */
export interface RuntimeKeys {
  bucket: number;
  /** hash: rec, health, healthMessage, healthReportedAt, expiresAt, name */
  rt: string;
  /** hash: registrationId → health digit + registration JSON */
  regs: string;
  /** hash: registrationId → "nonce serviceType" (what its service index entry holds) */
  regx: string;
  /** set of credential digests */
  creds: string;
  /** bucket index: zset runtimeId → expiresAt */
  rtExp: string;
  /** bucket index: zset runtimeId → end of its registrations' lease */
  lease: string;
  /** bucket index: set of runtime ids holding registrations */
  regRts: string;
  /** the bucket's event stream */
  events: string;
}

export interface KeyLayout {
  readonly buckets: number;
  /** Deployment-wide keys (epoch, layout marker), in the deployment's own tag. */
  global(name: string): string;
  /** Per-bucket stream keys, index = bucket. */
  readonly streams: string[];
  /** One key per bucket (`ready` probe, run-id refresh): bucket i's key lives in bucket i's slot. */
  bucketKey(bucket: number, name: string): string;
  bucketOf(id: string): number;
  runtime(runtimeId: string): RuntimeKeys;
  runtimeKeyList(keys: RuntimeKeys): string[];
  /** cred:<digest> hash {rec, id, rt}, the bucket's cred-exp zset and stream (digest's bucket). */
  credential(digest: string): { bucket: number; cred: string; credExp: string; events: string };
  /** cred-id:<id> → digest (id's bucket). */
  credentialId(id: string): string;
  enrolment(digest: string): string;
  enrolmentId(id: string): string;
  /** svc:<type> hash registrationId → "runtimeId nonce" (the service's bucket). */
  service(serviceType: string): string;
  /** svc-order:<type> zset of registration ids, all scores 0 (the service's bucket): Discover's pages. */
  serviceOrder(serviceType: string): string;
  /** rt-name:<name> zset runtimeId → expiresAt (the name's bucket). */
  runtimeName(pluginName: string): string;
  /** reg-rt:<registrationId> → runtimeId (the registration id's bucket). */
  registrationRuntime(registrationId: string): string;
  /**
   * A key named `name` in the bucket of `ownerId`: to keep a new key in one slot with what a script
   * touches beside it, e.g. ownedBy(serviceType, `svc-order:${serviceType}`) beside service(serviceType).
   */
  ownedBy(ownerId: string, name: string): string;
}

/**
 * Bucket i's tag: the first `name:i.n` (n = 0, 1, …) whose slot falls in the i-th of `buckets`
 * equal slot ranges. Deterministic, so every host computes the same tags.
 */
function bucketPrefixes(prefix: string, buckets: number): string[] {
  if (prefix.includes("{")) return Array.from({ length: buckets }, (_, i) => `${prefix}${i}:`);
  const name = prefix.replace(/:$/, "");
  return Array.from({ length: buckets }, (_, i) => {
    const low = Math.floor((i * SLOTS) / buckets);
    const high = Math.floor(((i + 1) * SLOTS) / buckets);
    for (let n = 0; ; n++) {
      const tag = `${name}:${i}.${n}`;
      const slot = crc16(tag) % SLOTS;
      if (slot >= low && slot < high) return `{${tag}}:`;
    }
  });
}

export function createKeyLayout(keyPrefix: string, buckets: number = DEFAULT_BUCKETS): KeyLayout {
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > 1024) throw new TypeError("buckets must be an integer from 1 to 1024");
  const globalPrefix = taggedPrefix(keyPrefix);
  const prefixes = bucketPrefixes(keyPrefix, buckets);
  const bucketOf = (id: string) => crc16(id) % buckets;
  const at = (id: string, name: string) => prefixes[bucketOf(id)]! + name;
  return {
    buckets,
    global: (name) => globalPrefix + name,
    streams: prefixes.map((p) => `${p}events`),
    bucketKey: (bucket, name) => prefixes[bucket]! + name,
    bucketOf,
    runtime(runtimeId) {
      const bucket = bucketOf(runtimeId);
      const p = prefixes[bucket]!;
      return {
        bucket,
        rt: `${p}rt:${runtimeId}`,
        regs: `${p}rt-regs:${runtimeId}`,
        regx: `${p}rt-regx:${runtimeId}`,
        creds: `${p}rt-creds:${runtimeId}`,
        rtExp: `${p}rt-exp`,
        lease: `${p}lease`,
        regRts: `${p}reg-rts`,
        events: `${p}events`,
      };
    },
    runtimeKeyList: (k) => [k.rt, k.regs, k.regx, k.creds, k.rtExp, k.lease, k.regRts, k.events],
    credential(digest) {
      const bucket = bucketOf(digest);
      const p = prefixes[bucket]!;
      return { bucket, cred: `${p}cred:${digest}`, credExp: `${p}cred-exp`, events: `${p}events` };
    },
    credentialId: (id) => at(id, `cred-id:${id}`),
    enrolment: (digest) => at(digest, `enr:${digest}`),
    enrolmentId: (id) => at(id, `enr-id:${id}`),
    service: (serviceType) => at(serviceType, `svc:${serviceType}`),
    serviceOrder: (serviceType) => at(serviceType, `svc-order:${serviceType}`),
    runtimeName: (pluginName) => at(pluginName, `rt-name:${pluginName}`),
    registrationRuntime: (registrationId) => at(registrationId, `reg-rt:${registrationId}`),
    ownedBy: at,
  };
}
