/**
 * Lua scripts for every multi-key change on one runtime: Redis runs each atomically, so a cascade
 * (runtime → its registrations) and the events it appends to its bucket's stream are one step. That
 * is also what makes sweeping idempotent across hosts: only the run whose DEL succeeded emits.
 *
 * Every key a script touches is declared in KEYS (see redis-keys.ts: all of one script's keys share
 * a bucket's hash tag, so Redis Cluster runs it on the node that holds them); Lua never builds a key
 * (test/unit/store/redis-scripts-keys.test.ts). Runtime scripts all take the same KEYS:
 *   1 rt, 2 regs, 3 regx, 4 creds, 5 rt-exp, 6 lease, 7 reg-rts, 8 events
 * `regs` holds registrationId → health digit .. registration JSON, so listing a runtime's
 * registrations is one read and a health change is a string edit, never a JSON round trip.
 * Events are returned to the caller as {streamId, type, cause, recordJson, health, …} so the
 * writing host delivers them locally without waiting for the stream.
 */

export const prelude = `
local function emit(eventsKey, origin, maxlen, typ, cause, rec, h)
  local id = redis.call('XADD', eventsKey, 'MAXLEN', '~', maxlen, '*', 'o', origin, 't', typ, 'c', cause, 'r', rec, 'h', h)
  return {id, typ, cause, rec, h}
end
local function extendRuntime(ttl)
  if ttl < 1 then ttl = 1 end
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
  if redis.call('PTTL', KEYS[4]) < ttl then redis.call('PEXPIRE', KEYS[4], ttl) end
end
local function setRuntimeExpiry(id, expiresAt, ttl)
  if redis.call('EXISTS', KEYS[1]) == 0 then return false end
  redis.call('HSET', KEYS[1], 'expiresAt', expiresAt)
  redis.call('ZADD', KEYS[5], expiresAt, id)
  extendRuntime(ttl)
  return redis.call('HGET', KEYS[1], 'name') or ''
end
-- Removes one registration of this runtime; returns {event..., "nonce svc"} (its service index entry) or nil.
local function dropRegistration(id, rid, cause, origin, maxlen, silent)
  local v = redis.call('HGET', KEYS[2], rid)
  if not v then return nil end
  local x = redis.call('HGET', KEYS[3], rid) or ''
  redis.call('HDEL', KEYS[2], rid)
  redis.call('HDEL', KEYS[3], rid)
  if redis.call('HLEN', KEYS[2]) == 0 then redis.call('SREM', KEYS[7], id) end
  local ev = {'', '', '', '', ''}
  if not silent then ev = emit(KEYS[8], origin, maxlen, 'removed', cause, string.sub(v, 2), string.sub(v, 1, 1)) end
  table.insert(ev, rid)
  table.insert(ev, x)
  return ev
end
-- Every registration of the runtime (a cascade): events plus their index entries, for the caller to tidy.
local function dropAllRegistrations(id, cause, origin, maxlen)
  local events = {}
  local all = redis.call('HGETALL', KEYS[2])
  for i = 1, #all, 2 do
    local ev = dropRegistration(id, all[i], cause, origin, maxlen, false)
    if ev then table.insert(events, ev) end
  end
  return events
end
`;

/** KEYS: runtime keys. ARGV: id, rec, health, healthMessage, healthReportedAt, expiresAt, ttlMs, pluginName → its previous name or '' */
export const PUT_RUNTIME = `${prelude}
local id = ARGV[1]
local old = redis.call('HGET', KEYS[1], 'name') or ''
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'rec', ARGV[2], 'health', ARGV[3], 'healthMessage', ARGV[4], 'healthReportedAt', ARGV[5], 'expiresAt', ARGV[6], 'name', ARGV[8])
redis.call('ZADD', KEYS[5], ARGV[6], id)
extendRuntime(tonumber(ARGV[7]))
return old
`;

/** KEYS: runtime keys. ARGV: id, expiresAt, ttlMs → its name, or nil when the runtime does not exist */
export const SET_RUNTIME_EXPIRY = `${prelude}
return setRuntimeExpiry(ARGV[1], ARGV[2], tonumber(ARGV[3]))
`;

/** KEYS: rt-name:<name>. ARGV: runtimeId, expiresAt, ttlMs, now, remove ('1' drops the entry) — the live count per name. */
export const INDEX_NAME = `
if ARGV[5] == '1' then redis.call('ZREM', KEYS[1], ARGV[1]) return 1 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
`;

/** KEYS: runtime keys. ARGV: id, health, message, reportedAt, origin, maxlen → events */
export const SET_HEALTH = `${prelude}
local h = ARGV[2]
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
redis.call('HSET', KEYS[1], 'health', h, 'healthMessage', ARGV[3], 'healthReportedAt', ARGV[4])
-- Hosts caching the runtime record re-read it.
redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[6], '*', 'o', ARGV[5], 't', 'runtime-updated', 'c', '', 'r', ARGV[1], 'h', '')
local events = {}
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  local v = all[i + 1]
  if string.sub(v, 1, 1) ~= h then
    redis.call('HSET', KEYS[2], all[i], h .. string.sub(v, 2))
    table.insert(events, emit(KEYS[8], ARGV[5], ARGV[6], 'updated', '', string.sub(v, 2), h))
  end
end
return events
`;

/**
 * KEYS: runtime keys. ARGV: id, cause, origin, maxlen, expiredBy ('' = unconditional)
 * → {1|0, events, credential digests, name, }. With expiredBy set (sweep) the runtime is removed only
 * if it is still expired then: another host may have refreshed it since the sweep listed it.
 * Deleting the record is the revocation: a credential is only ever accepted with its runtime live
 * (token-authenticator, grant-interceptor), so the credentials' own keys (other slots) are tidied after.
 */
export const REMOVE_RUNTIME = `${prelude}
local id, cause, origin, maxlen = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if ARGV[5] ~= '' then
  local exp = redis.call('HGET', KEYS[1], 'expiresAt')
  if exp and tonumber(exp) > tonumber(ARGV[5]) then return {0, {}, {}, ''} end
end
redis.call('ZREM', KEYS[5], id)
redis.call('ZREM', KEYS[6], id)
local name = redis.call('HGET', KEYS[1], 'name') or ''
if redis.call('DEL', KEYS[1]) == 0 then return {0, {}, {}, ''} end
local digests = redis.call('SMEMBERS', KEYS[4])
redis.call('DEL', KEYS[4])
local events = dropAllRegistrations(id, cause, origin, maxlen)
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SREM', KEYS[7], id)
-- Every host's reader hears of the end (to close what the runtime holds open, to drop cached entries).
redis.call('XADD', KEYS[8], 'MAXLEN', '~', maxlen, '*', 'o', origin, 't', 'runtime-ended', 'c', cause, 'r', id, 'h', '')
return {1, events, digests, name}
`;

/** KEYS: runtime keys. ARGV: digest, credTtlMs — indexes a credential under its runtime (before it is stored). */
export const INDEX_CREDENTIAL = `${prelude}
redis.call('SADD', KEYS[4], ARGV[1])
local want = math.max(tonumber(ARGV[2]), redis.call('PTTL', KEYS[1]))
if redis.call('PTTL', KEYS[4]) < want then redis.call('PEXPIRE', KEYS[4], want) end
return 1
`;

/** KEYS: cred:<digest>, cred-exp. ARGV: digest, rec, id, runtimeId, ttlMs, expiresAt */
export const PUT_CREDENTIAL = `
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if tonumber(ARGV[5]) < 1 then return 0 end
redis.call('HSET', KEYS[1], 'rec', ARGV[2], 'id', ARGV[3], 'rt', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1])
return 1
`;

/**
 * KEYS: cred:<digest>, cred-exp, events. ARGV: digest, expiredBy ('' = unconditional), origin, maxlen,
 * ofRuntime ('' = any: a removed runtime's stale index entry must not delete a digest stored since for
 * another runtime) → {id, runtimeId} of the credential it deleted, or nil. One key holds the credential, so deleting
 * it is the whole revocation (atomic); the id lookup and runtime index are tidied after. A
 * `credential-ended` entry tells every host's caches.
 */
export const DROP_CREDENTIAL = `
if ARGV[2] ~= '' then
  local s = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if s and tonumber(s) > tonumber(ARGV[2]) then return false end
end
local f = redis.call('HMGET', KEYS[1], 'id', 'rt')
if ARGV[5] and ARGV[5] ~= '' and f[2] and f[2] ~= ARGV[5] then return false end
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('DEL', KEYS[1]) == 0 then return false end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'o', ARGV[3], 't', 'credential-ended', 'c', f[2] or '', 'r', ARGV[1], 'h', '')
return {f[1] or '', f[2] or ''}
`;

/**
 * Token refresh, step 1 (the old token's bucket): consumes the credential if it is live, of
 * `runtimeId` and of `kind`. Of concurrent refreshes of one token exactly one gets 1.
 * KEYS: cred:<digest>, cred-exp, events. ARGV: digest, runtimeId, kind, now, origin, maxlen → 1 | 0
 */
export const CONSUME_CREDENTIAL = `
local f = redis.call('HMGET', KEYS[1], 'rt', 'rec')
if f[1] ~= ARGV[2] or not f[2] or cjson.decode(f[2]).kind ~= ARGV[3] then return 0 end
local s = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not s or tonumber(s) <= tonumber(ARGV[4]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'o', ARGV[5], 't', 'credential-ended', 'c', ARGV[2], 'r', ARGV[1], 'h', '')
return 1
`;

/**
 * Token refresh, step 2 (the runtime's bucket): if the runtime is live at `now`, swaps the digests in
 * its index and extends it. KEYS: runtime keys. ARGV: id, now, oldDigest, newDigest, expiresAt,
 * runtimeTtlMs, credTtlMs → its name, or nil when the runtime is gone.
 */
export const ROTATE_RUNTIME = `${prelude}
local exp = redis.call('HGET', KEYS[1], 'expiresAt')
if not exp or tonumber(exp) <= tonumber(ARGV[2]) then return false end
redis.call('SREM', KEYS[4], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[4])
local name = setRuntimeExpiry(ARGV[1], ARGV[5], tonumber(ARGV[6]))
if redis.call('PTTL', KEYS[4]) < tonumber(ARGV[7]) then redis.call('PEXPIRE', KEYS[4], ARGV[7]) end
return name
`;

/**
 * KEYS: runtime keys. ARGV: registrationId, rec, health, serviceType, runtimeId, nonce, origin, maxlen,
 * moved ('1': it existed under another runtime, so the event is `updated`) → {event, previous "nonce svc" or '', runtime PTTL}
 */
export const PUT_REGISTRATION = `${prelude}
local rid = ARGV[1]
local old = redis.call('HGET', KEYS[3], rid)
local typ = 'added'
if old or ARGV[9] == '1' then typ = 'updated' end
redis.call('HSET', KEYS[2], rid, ARGV[3] .. ARGV[2])
redis.call('HSET', KEYS[3], rid, ARGV[6] .. ' ' .. ARGV[4])
redis.call('SADD', KEYS[7], ARGV[5])
-- A registration lives exactly as long as its runtime's keys: a dead owner's entries vanish.
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
else
  redis.call('PERSIST', KEYS[2])
  redis.call('PERSIST', KEYS[3])
end
return {emit(KEYS[8], ARGV[7], ARGV[8], typ, '', ARGV[2], ARGV[3]), old or '', ttl}
`;

/** KEYS: runtime keys. ARGV: runtimeId, registrationId, cause, origin, maxlen, silent ('1': no event) → {event…, rid, "nonce svc"} | nil */
export const REMOVE_REGISTRATION = `${prelude}
return dropRegistration(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6] == '1')
`;

/**
 * KEYS: svc:<type>, svc-order:<type> (the service's bucket). ARGV: registrationId, "runtimeId nonce" — the
 * service's index entry, and the id in the type's sorted set (all scores 0: lexicographic order, Discover's pages).
 */
export const INDEX_REGISTRATION = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1
`;

/** KEYS: svc:<type>, svc-order:<type>. ARGV: registrationId, "runtimeId nonce" — removes both only if the entry is still that one. */
export const UNINDEX_REGISTRATION = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`;

/** KEYS: a hash. ARGV: field, value — deletes the field only if it still holds `value` (an index entry not since replaced). */
export const HDEL_IF = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
`;

/** KEYS: a string key. ARGV: value — deletes it only if it still holds `value`. */
export const DEL_IF = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * Readiness: a write-capable round trip on one slot (a replica or a read-only node fails it).
 * KEYS: a probe key. Writes nothing: SET … XX on a key that never exists.
 */
export const READY_PROBE = `
redis.call('SET', KEYS[1], '1', 'XX', 'PX', 1)
return 1
`;
