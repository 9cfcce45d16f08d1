import type { RateBudget, RateDecision, RateLimitRedisClient } from "./router-rate-limiter.js";

/**
 * Every budget a call spends, in one Lua script: one round trip per routed call however many
 * budgets (per caller, per service, each with its burst) are configured, where one
 * rate-limiter-flexible limiter per budget costs a script each.
 *
 * Same fixed windows as RateLimiterRedis: a key counts the window's calls and expires with it;
 * a call over `points` spends from the burst window instead (BurstyRateLimiter), and is refused
 * when that is spent too, with the sooner of the two windows' ends as its retry delay. Budgets are
 * spent in order and the first refusal ends the script (a refused caller spends no service budget).
 *
 * KEYS: per budget, its window key and its burst key. ARGV: per budget, points, window ms,
 * burst points, burst window ms. Reply: {0, 0} allowed, or {budget index + 1, retry ms}.
 */
const SPEND = `
local n = #KEYS / 2
for i = 0, n - 1 do
  local key, burstKey = KEYS[2 * i + 1], KEYS[2 * i + 2]
  local points, window = tonumber(ARGV[4 * i + 1]), tonumber(ARGV[4 * i + 2])
  local burst, burstWindow = tonumber(ARGV[4 * i + 3]), tonumber(ARGV[4 * i + 4])
  local used = redis.call('INCR', key)
  if used == 1 then redis.call('PEXPIRE', key, window) end
  if used > points then
    local wait = redis.call('PTTL', key)
    if wait < 0 then redis.call('PEXPIRE', key, window); wait = window end
    if burst == 0 then return {i + 1, wait} end
    local spent = redis.call('INCR', burstKey)
    if spent == 1 then redis.call('PEXPIRE', burstKey, burstWindow) end
    if spent > burst then
      local burstWait = redis.call('PTTL', burstKey)
      if burstWait < 0 then redis.call('PEXPIRE', burstKey, burstWindow); burstWait = burstWindow end
      return {i + 1, math.min(wait, burstWait)}
    end
  end
end
return {0, 0}
`;

const COMMAND = "plugboardSpendBudgets";

export interface NamedBudget {
  /** Key prefix of this budget's windows, e.g. "pb:rl:caller". */
  prefix: string;
  budget: RateBudget;
}

interface ScriptClient extends RateLimitRedisClient {
  status?: string;
  isCluster?: boolean;
}

/**
 * Spends `budgets` for one call: `keys[i]` is the key of budgets[i] (caller key, service type).
 * Keys are `prefix:key` and `prefix:burst:key`, and on a Cluster `prefix:{key}` and `prefix:burst:{key}`
 * so a budget's two windows share a slot. There budgets of different keys hash apart, so each is its
 * own script (one round trip per budget); elsewhere all go in one. Rejects when Redis fails (the
 * caller falls back to memory).
 */
export function createRedisBudgetSpender(client: RateLimitRedisClient, budgets: NamedBudget[]) {
  const redis = client as ScriptClient;
  redis.defineCommand(COMMAND, { lua: SPEND }); // no numberOfKeys: given per call
  const run = (redis as unknown as Record<string, (...args: Array<string | number>) => Promise<[number, number]>>)[COMMAND]!.bind(redis);
  const argsOf = budgets.map(({ budget }) => [
    budget.points,
    budget.durationSec * 1000,
    budget.burst ?? 0,
    (budget.burstDurationSec ?? budget.durationSec * 10) * 1000,
  ]);
  // rate-limiter-flexible's key names (budgets carry over an upgrade); on a Cluster a hash tag keeps a budget's two together.
  const keysOf = redis.isCluster
    ? (i: number, key: string) => [`${budgets[i]!.prefix}:{${key}}`, `${budgets[i]!.prefix}:burst:{${key}}`]
    : (i: number, key: string) => [`${budgets[i]!.prefix}:${key}`, `${budgets[i]!.prefix}:burst:${key}`];
  const groups = redis.isCluster ? budgets.map((_, i) => [i]) : [budgets.map((_, i) => i)];

  return {
    /** True when the client can take a command now (rate-limiter-flexible's rejectIfRedisNotReady). */
    ready: () => redis.status === undefined || redis.status === "ready",
    async spend(keys: string[]): Promise<RateDecision> {
      for (const group of groups) {
        const [refused, waitMs] = await run(
          group.length * 2,
          ...group.flatMap((i) => keysOf(i, keys[i]!)),
          ...group.flatMap((i) => argsOf[i]!),
        );
        if (Number(refused) > 0) return { ok: false, retryAfterMs: Math.max(1, Math.ceil(Number(waitMs))) };
      }
      return { ok: true };
    },
  };
}
