/**
 * Lua scripts for every multi-key change: Redis runs each atomically, so a cascade
 * (runtime → credentials + registrations) and the event it publishes are one step.
 * That is also what makes sweeping idempotent across hosts: only the script run
 * whose DEL succeeded appends the `removed` events.
 *
 * Every script takes the key prefix as ARGV[1] and builds its keys from it. The prefix is a
 * hash tag (`{plugboard}:`) and each script declares KEYS[1], the deployment's epoch key,
 * so in Redis Cluster every key a script touches is in the slot of the key it declared
 * (one slot per deployment: Cluster works, it does not spread one deployment's
 * writes over shards). Events are returned to the caller as
 * {streamId, type, cause, recordJson, health} so the writing host delivers them
 * locally without waiting for the stream.
 */

export const prelude = `
local p = ARGV[1]
local function emit(origin, maxlen, typ, cause, rec, h)
  local id = redis.call('XADD', p..'events', 'MAXLEN', '~', maxlen, '*', 'o', origin, 't', typ, 'c', cause, 'r', rec, 'h', h)
  return {id, typ, cause, rec, h}
end
local function extendRuntime(id, ttl)
  if ttl < 1 then ttl = 1 end
  redis.call('PEXPIRE', p..'rt:'..id, ttl)
  local regsKey = p..'rt-regs:'..id
  redis.call('PEXPIRE', regsKey, ttl)
  for _, rid in ipairs(redis.call('SMEMBERS', regsKey)) do
    redis.call('PEXPIRE', p..'reg:'..rid, ttl)
  end
  local credsKey = p..'rt-creds:'..id
  if redis.call('PTTL', credsKey) < ttl then redis.call('PEXPIRE', credsKey, ttl) end
end
local function dropCredential(d)
  redis.call('ZREM', p..'cred-exp', d)
  local key = p..'cred:'..d
  local f = redis.call('HMGET', key, 'id', 'rt')
  redis.call('DEL', key)
  if f[1] then
    local idKey = p..'cred-id:'..f[1]
    if redis.call('GET', idKey) == d then redis.call('DEL', idKey) end
  end
  return f[2]
end
-- rt-name:<name> holds a plugin's runtimes scored by expiresAt, so ZCOUNT counts the live ones.
local function indexName(name, id, expiresAt, ttl)
  local nameKey = p..'rt-name:'..name
  redis.call('ZADD', nameKey, expiresAt, id)
  if redis.call('PTTL', nameKey) < ttl then redis.call('PEXPIRE', nameKey, ttl) end
end
local function setRuntimeExpiry(id, expiresAt, ttl)
  local key = p..'rt:'..id
  if redis.call('EXISTS', key) == 0 then return 0 end
  redis.call('HSET', key, 'expiresAt', expiresAt)
  redis.call('ZADD', p..'rt-exp', expiresAt, id)
  local name = redis.call('HGET', key, 'name')
  if name then indexName(name, id, expiresAt, ttl) end
  extendRuntime(id, ttl)
  return 1
end
local function putCredential(d, rec, id, rt, ttl, expiresAt)
  local key = p..'cred:'..d
  local old = redis.call('HMGET', key, 'rt')
  if old[1] and old[1] ~= rt then redis.call('SREM', p..'rt-creds:'..old[1], d) end
  dropCredential(d)
  if ttl < 1 then return 0 end
  redis.call('HSET', key, 'rec', rec, 'id', id, 'rt', rt)
  redis.call('PEXPIRE', key, ttl)
  redis.call('SET', p..'cred-id:'..id, d, 'PX', ttl)
  redis.call('ZADD', p..'cred-exp', expiresAt, d)
  local credsKey = p..'rt-creds:'..rt
  redis.call('SADD', credsKey, d)
  local want = math.max(ttl, redis.call('PTTL', p..'rt:'..rt))
  if redis.call('PTTL', credsKey) < want then redis.call('PEXPIRE', credsKey, want) end
  return 1
end
local function dropRegistration(rid, cause, origin, maxlen)
  local key = p..'reg:'..rid
  local f = redis.call('HMGET', key, 'rec', 'h', 'svc', 'rt')
  if not f[1] then return nil end
  redis.call('DEL', key)
  redis.call('SREM', p..'regs', rid)
  redis.call('SREM', p..'svc:'..f[3], rid)
  redis.call('ZREM', p..'svc-order:'..f[3], rid)
  redis.call('SREM', p..'rt-regs:'..f[4], rid)
  return emit(origin, maxlen, 'removed', cause, f[1], f[2])
end
`;

/** ARGV: p, id, rec, health, healthMessage, healthReportedAt, expiresAt, ttlMs, pluginName */
export const PUT_RUNTIME = `${prelude}
local id, name = ARGV[2], ARGV[9]
local key = p..'rt:'..id
local old = redis.call('HGET', key, 'name')
if old and old ~= name then redis.call('ZREM', p..'rt-name:'..old, id) end
redis.call('DEL', key)
redis.call('HSET', key, 'rec', ARGV[3], 'health', ARGV[4], 'healthMessage', ARGV[5], 'healthReportedAt', ARGV[6], 'expiresAt', ARGV[7], 'name', name)
redis.call('ZADD', p..'rt-exp', ARGV[7], id)
indexName(name, id, ARGV[7], tonumber(ARGV[8]))
extendRuntime(id, tonumber(ARGV[8]))
return 1
`;

/** ARGV: p, id, expiresAt, ttlMs → 1 if the runtime exists */
export const SET_RUNTIME_EXPIRY = `${prelude}
return setRuntimeExpiry(ARGV[2], ARGV[3], tonumber(ARGV[4]))
`;

/** ARGV: p, id, health, message, reportedAt, origin, maxlen → events */
export const SET_HEALTH = `${prelude}
local id, h = ARGV[2], ARGV[3]
local key = p..'rt:'..id
if redis.call('EXISTS', key) == 0 then return {} end
redis.call('HSET', key, 'health', h, 'healthMessage', ARGV[4], 'healthReportedAt', ARGV[5])
local events = {}
for _, rid in ipairs(redis.call('SMEMBERS', p..'rt-regs:'..id)) do
  local rkey = p..'reg:'..rid
  local cur = redis.call('HMGET', rkey, 'rec', 'h')
  if cur[1] and cur[2] ~= h then
    redis.call('HSET', rkey, 'h', h)
    table.insert(events, emit(ARGV[6], ARGV[7], 'updated', '', cur[1], h))
  end
end
return events
`;

/**
 * ARGV: p, id, cause, origin, maxlen, expiredBy ('' = unconditional) → {1|0, events}.
 * With expiredBy set (sweep) the runtime is removed only if it is still expired then:
 * another host may have refreshed it since the sweep listed it.
 */
export const REMOVE_RUNTIME = `${prelude}
local id, cause, origin, maxlen = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key = p..'rt:'..id
if ARGV[6] ~= '' then
  local exp = redis.call('HGET', key, 'expiresAt')
  if exp and tonumber(exp) > tonumber(ARGV[6]) then return {0, {}} end
end
redis.call('ZREM', p..'rt-exp', id)
local name = redis.call('HGET', key, 'name')
if name then redis.call('ZREM', p..'rt-name:'..name, id) end
if redis.call('DEL', key) == 0 then return {0, {}} end
local credsKey = p..'rt-creds:'..id
for _, d in ipairs(redis.call('SMEMBERS', credsKey)) do dropCredential(d) end
redis.call('DEL', credsKey)
local regsKey = p..'rt-regs:'..id
local events = {}
for _, rid in ipairs(redis.call('SMEMBERS', regsKey)) do
  local ev = dropRegistration(rid, cause, origin, maxlen)
  if ev then table.insert(events, ev) end
end
redis.call('DEL', regsKey)
-- Every host's reader hears of the end (to close what the runtime holds open); not a registration event.
redis.call('XADD', p..'events', 'MAXLEN', '~', maxlen, '*', 'o', origin, 't', 'runtime-ended', 'c', cause, 'r', id, 'h', '')
return {1, events}
`;

/** ARGV: p, digest, rec, id, runtimeId, ttlMs, expiresAt */
export const PUT_CREDENTIAL = `${prelude}
return putCredential(ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7])
`;

/**
 * Token refresh, consume-and-issue in one step (see Store.rotateCredential).
 * ARGV: p, oldId, now, newDigest, rec, newId, runtimeId, credTtlMs, expiresAt, runtimeTtlMs, kind → 1 | 0
 */
export const ROTATE_CREDENTIAL = `${prelude}
local oldId, now, rt = ARGV[2], tonumber(ARGV[3]), ARGV[7]
local old = redis.call('GET', p..'cred-id:'..oldId)
if not old then return 0 end
local f = redis.call('HMGET', p..'cred:'..old, 'rt', 'rec')
if f[1] ~= rt or not f[2] or cjson.decode(f[2]).kind ~= ARGV[11] then return 0 end
local credExp = redis.call('ZSCORE', p..'cred-exp', old)
if not credExp or tonumber(credExp) <= now then return 0 end
local rtExp = redis.call('HGET', p..'rt:'..rt, 'expiresAt')
if not rtExp or tonumber(rtExp) <= now then return 0 end
dropCredential(old)
redis.call('SREM', p..'rt-creds:'..rt, old)
if putCredential(ARGV[4], ARGV[5], ARGV[6], rt, tonumber(ARGV[8]), ARGV[9]) == 0 then return 0 end
return setRuntimeExpiry(rt, ARGV[9], tonumber(ARGV[10]))
`;

/** ARGV: p, digest */
export const DELETE_CREDENTIAL = `${prelude}
local rt = dropCredential(ARGV[2])
if rt then redis.call('SREM', p..'rt-creds:'..rt, ARGV[2]) end
return 1
`;

/** ARGV: p, registrationId, rec, health, serviceType, runtimeId, origin, maxlen → event */
export const PUT_REGISTRATION = `${prelude}
local rid, svc, rt = ARGV[2], ARGV[5], ARGV[6]
local key = p..'reg:'..rid
local old = redis.call('HMGET', key, 'svc', 'rt')
local typ = 'added'
if old[1] then
  typ = 'updated'
  if old[1] ~= svc then
    redis.call('SREM', p..'svc:'..old[1], rid)
    redis.call('ZREM', p..'svc-order:'..old[1], rid)
  end
  if old[2] and old[2] ~= rt then redis.call('SREM', p..'rt-regs:'..old[2], rid) end
end
redis.call('HSET', key, 'rec', ARGV[3], 'h', ARGV[4], 'svc', svc, 'rt', rt)
redis.call('SADD', p..'regs', rid)
redis.call('SADD', p..'svc:'..svc, rid)
-- The same ids in a sorted set (all scores 0: lexicographic order), for Discover's pages in O(page).
redis.call('ZADD', p..'svc-order:'..svc, 0, rid)
local regsKey = p..'rt-regs:'..rt
redis.call('SADD', regsKey, rid)
-- A registration lives exactly as long as its runtime's keys: a dead owner's entries vanish.
local ttl = redis.call('PTTL', p..'rt:'..rt)
if ttl > 0 then
  redis.call('PEXPIRE', key, ttl)
  redis.call('PEXPIRE', regsKey, ttl)
else
  redis.call('PERSIST', key)
end
return emit(ARGV[7], ARGV[8], typ, '', ARGV[3], ARGV[4])
`;

/** ARGV: p, registrationId, cause, origin, maxlen → event | nil */
export const REMOVE_REGISTRATION = `${prelude}
return dropRegistration(ARGV[2], ARGV[3], ARGV[4], ARGV[5])
`;

/** ARGV: p, indexKey, id... — drops index members whose record is gone (checked here, so a concurrent re-add survives). */
export const TIDY_REGISTRATION_INDEX = `${prelude}
for i = 3, #ARGV do
  if redis.call('EXISTS', p..'reg:'..ARGV[i]) == 0 then redis.call('SREM', ARGV[2], ARGV[i]) end
end
return 1
`;

/** ARGV: p, serviceType, ids… — drops ids whose record is gone from the type's set and sorted set. */
export const TIDY_SERVICE_ORDER = `${prelude}
for i = 3, #ARGV do
  if redis.call('EXISTS', p..'reg:'..ARGV[i]) == 0 then
    redis.call('SREM', p..'svc:'..ARGV[2], ARGV[i])
    redis.call('ZREM', p..'svc-order:'..ARGV[2], ARGV[i])
  end
end
return 1
`;

/**
 * ARGV: p, serviceType → 1 when rebuilt. The sorted set mirrors the set \`svc:<type>\`; when their sizes
 * differ (data written before the sorted set existed) it is rebuilt from the set, atomically.
 */
export const SYNC_SERVICE_ORDER = `${prelude}
local set, order = p..'svc:'..ARGV[2], p..'svc-order:'..ARGV[2]
if redis.call('SCARD', set) == redis.call('ZCARD', order) then return 0 end
redis.call('DEL', order)
local ids = redis.call('SMEMBERS', set)
for i = 1, #ids, 500 do
  local args = {}
  for j = i, math.min(i + 499, #ids) do
    args[#args + 1] = 0
    args[#args + 1] = ids[j]
  end
  redis.call('ZADD', order, unpack(args))
end
return 1
`;

/**
 * ARGV: p, now → how many credentials ended. Keys expire by TTL on Redis's clock anyway; this
 * honours the host's \`now\` and keeps the expiry index from growing.
 */
export const SWEEP_CREDENTIALS = `${prelude}
local ended = 0
for _, d in ipairs(redis.call('ZRANGEBYSCORE', p..'cred-exp', '-inf', ARGV[2], 'LIMIT', 0, 1000)) do
  local rt = dropCredential(d)
  if rt then redis.call('SREM', p..'rt-creds:'..rt, d) end
  ended = ended + 1
end
return ended
`;

/**
 * Readiness: a write-capable round trip on the store's slot (a replica or a read-only node fails it).
 * ARGV: p → 1. Writes nothing: SET … XX on a key that never exists.
 */
export const READY_PROBE = `
redis.call('SET', ARGV[1]..'ready-probe', '1', 'XX', 'PX', 1)
return 1
`;
