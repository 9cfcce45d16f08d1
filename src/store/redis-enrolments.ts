import type { RedisClient as Redis } from "./redis-source.js";
import type { ScriptRunner } from "./redis-script-runner.js";
import type { EnrolmentRecord, Store } from "./types.js";

/*
 * Enrolment records in Redis: `enr:<digest>` is a hash {rec (JSON), uses}, `enr-id:<id>` points at the
 * digest; both expire with the token (PX). Taking a use is one script, so two hosts can never both
 * spend the last use.
 */

/** ARGV: p, digest, rec, id, uses, ttlMs */
const PUT_ENROLMENT = `
local p = ARGV[1]
local key = p..'enr:'..ARGV[2]
redis.call('DEL', key)
redis.call('HSET', key, 'rec', ARGV[3], 'uses', ARGV[5])
redis.call('PEXPIRE', key, ARGV[6])
redis.call('SET', p..'enr-id:'..ARGV[4], ARGV[2], 'PX', ARGV[6])
return 1`;

/** ARGV: p, digest → 1 when a use was taken */
const USE_ENROLMENT = `
local p = ARGV[1]
local key = p..'enr:'..ARGV[2]
local uses = tonumber(redis.call('HGET', key, 'uses') or '0')
if uses < 1 then return 0 end
if uses == 1 then redis.call('DEL', key) else redis.call('HINCRBY', key, 'uses', -1) end
return 1`;

/** ARGV: p, id → 1 when a live record was deleted */
const REVOKE_ENROLMENT = `
local p = ARGV[1]
local idKey = p..'enr-id:'..ARGV[2]
local digest = redis.call('GET', idKey)
if not digest then return 0 end
redis.call('DEL', idKey)
return redis.call('DEL', p..'enr:'..digest)`;

type EnrolmentMethods = Pick<Store, "putEnrolment" | "getEnrolment" | "useEnrolment" | "revokeEnrolment">;

/**
 * `durable` (optional) runs a security write and waits for the replicas (redis-durability.ts); `replayable`
 * marks the ones safe to re-apply on a new primary (a revocation, not a use: re-applying would spend another).
 */
export type DurableRunner = (script: string, args: Array<string | number>, replayable: boolean) => Promise<unknown>;

export function createRedisEnrolments(
  client: Redis,
  run: ScriptRunner,
  prefix: string,
  ready: () => void,
  durable: DurableRunner = (script, args) => run(script, args),
): EnrolmentMethods {
  return {
    async putEnrolment(digest, record) {
      ready();
      const ttlMs = Math.max(1, Math.ceil(record.expiresAt - Date.now()));
      await run(PUT_ENROLMENT, [prefix, digest, JSON.stringify(record), record.id, record.usesLeft, ttlMs]);
    },
    async getEnrolment(digest) {
      ready();
      const [rec, uses] = await client.hmget(`${prefix}enr:${digest}`, "rec", "uses");
      if (!rec || !uses) return undefined;
      const record = { ...(JSON.parse(rec) as EnrolmentRecord), usesLeft: Number(uses) };
      return record.usesLeft > 0 && record.expiresAt > Date.now() ? record : undefined;
    },
    async useEnrolment(digest) {
      ready();
      return (await durable(USE_ENROLMENT, [prefix, digest], false)) === 1;
    },
    async revokeEnrolment(id) {
      ready();
      return (await durable(REVOKE_ENROLMENT, [prefix, id], true)) === 1;
    },
  };
}
