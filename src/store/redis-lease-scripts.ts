/**
 * Lua scripts for registration leases (see Store.renewLease): one sorted set `lease` scored by
 * the lease's end, like `rt-exp` for runtime expiry, so any host's sweep finds the ended ones.
 */
import { prelude } from "./redis-scripts.js";

/** ARGV: p, runtimeId, until → 1 when the runtime exists (and its lease was set). */
export const RENEW_LEASE = `${prelude}
if redis.call('EXISTS', p..'rt:'..ARGV[2]) == 0 then return 0 end
redis.call('ZADD', p..'lease', ARGV[3], ARGV[2])
return 1
`;

/**
 * ARGV: p, runtimeId, now, origin, maxlen → {1|0, events}. Drops the runtime's registrations
 * only if its lease is still over: another host may have renewed it since the sweep listed it.
 */
export const END_LEASE = `${prelude}
local id, now, origin, maxlen = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local score = redis.call('ZSCORE', p..'lease', id)
if not score or tonumber(score) > now then return {0, {}} end
redis.call('ZREM', p..'lease', id)
local events = {}
for _, rid in ipairs(redis.call('SMEMBERS', p..'rt-regs:'..id)) do
  local ev = dropRegistration(rid, 'lease_expired', origin, maxlen)
  if ev then table.insert(events, ev) end
end
return {1, events}
`;
