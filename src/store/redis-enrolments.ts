import type { RedisClient as Redis } from "./redis-source.js";
import type { KeyLayout } from "./redis-keys.js";
import type { DurableRunner, StepRunner } from "./redis-context.js";
import type { ScriptRunner } from "./redis-script-runner.js";
import { DEL_IF } from "./redis-scripts.js";
import type { EnrolmentRecord, Store } from "./types.js";

/*
 * Enrolment records in Redis: `enr:<digest>` is a hash {rec (JSON), uses} in the digest's bucket,
 * `enr-id:<id>` (the id's bucket) points at the digest; both expire with the token (PX). Taking a
 * use is one script on the one key, so two hosts can never both spend the last use.
 */

/** KEYS: enr:<digest>. ARGV: rec, uses, ttlMs */
export const PUT_ENROLMENT = `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'rec', ARGV[1], 'uses', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

/** KEYS: enr:<digest> → 1 when a use was taken */
export const USE_ENROLMENT = `
local uses = tonumber(redis.call('HGET', KEYS[1], 'uses') or '0')
if uses < 1 then return 0 end
if uses == 1 then redis.call('DEL', KEYS[1]) else redis.call('HINCRBY', KEYS[1], 'uses', -1) end
return 1`;

type EnrolmentMethods = Pick<Store, "putEnrolment" | "getEnrolment" | "useEnrolment" | "revokeEnrolment">;

export function createRedisEnrolments(
  client: Redis,
  run: ScriptRunner,
  layout: KeyLayout,
  ready: () => void,
  durable: DurableRunner,
): EnrolmentMethods {
  /** Deleting the record is the revocation (the token no longer verifies); the id pointer is tidied after. */
  const revokeDigest = async (s: StepRunner, digest: string, id: string) => {
    s.touch(layout.enrolment(digest));
    const deleted = await s.client.del(layout.enrolment(digest));
    await s.run(DEL_IF, [layout.enrolmentId(id)], [digest]);
    return deleted === 1;
  };
  return {
    async putEnrolment(digest, record) {
      ready();
      const ttlMs = Math.max(1, Math.ceil(record.expiresAt - Date.now()));
      // The id first: a record is never live without the pointer its revocation needs.
      await client.set(layout.enrolmentId(record.id), digest, "PX", ttlMs);
      await run(PUT_ENROLMENT, [layout.enrolment(digest)], [JSON.stringify(record), record.usesLeft, ttlMs]);
    },
    async getEnrolment(digest) {
      ready();
      const [rec, uses] = await client.hmget(layout.enrolment(digest), "rec", "uses");
      if (!rec || !uses) return undefined;
      const record = { ...(JSON.parse(rec) as EnrolmentRecord), usesLeft: Number(uses) };
      return record.usesLeft > 0 && record.expiresAt > Date.now() ? record : undefined;
    },
    async useEnrolment(digest) {
      ready();
      return durable(async (s) => (await s.run(USE_ENROLMENT, [layout.enrolment(digest)], [])) === 1);
    },
    async revokeEnrolment(id) {
      ready();
      const digest = await client.get(layout.enrolmentId(id));
      if (digest === null) return false;
      return durable(
        (s) => revokeDigest(s, digest, id),
        (s) => revokeDigest(s, digest, id),
      );
    },
  };
}
