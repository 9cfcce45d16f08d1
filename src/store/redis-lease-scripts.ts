/**
 * Lua scripts for registration leases (see Store.renewLease): each bucket's sorted set `lease`,
 * scored by the lease's end, like `rt-exp` for runtime expiry, so any host's sweep finds the ended ones.
 */
import { prelude } from "./redis-scripts.js";

/** KEYS: runtime keys. ARGV: runtimeId, until → 1 when the runtime exists (and its lease was set). */
export const RENEW_LEASE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[6], ARGV[2], ARGV[1])
return 1
`;

/**
 * KEYS: runtime keys. ARGV: runtimeId, now, origin, maxlen → {1|0, events}. Drops the runtime's
 * registrations only if its lease is still over: another host may have renewed it since the sweep listed it.
 */
export const END_LEASE = `${prelude}
local id, now = ARGV[1], tonumber(ARGV[2])
local score = redis.call('ZSCORE', KEYS[6], id)
if not score or tonumber(score) > now then return {0, {}} end
redis.call('ZREM', KEYS[6], id)
return {1, dropAllRegistrations(id, 'lease_expired', ARGV[3], ARGV[4])}
`;
