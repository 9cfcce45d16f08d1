/**
 * Every Lua script declares every key it touches in KEYS: Redis Cluster routes a script by its KEYS, so a
 * key built inside Lua (from ARGV, a prefix or a set's members) may live on another node. This reads the
 * scripts' source: each redis.call's key argument must be KEYS[n] (or a helper's `…Key` parameter, fed
 * only KEYS[n]), and no key-like literal ('rt:', 'events') appears.
 */
import { describe, expect, it } from "vitest";
import * as enrolmentScripts from "../../../src/store/redis-enrolments.js";
import * as leaseScripts from "../../../src/store/redis-lease-scripts.js";
import * as registrationScripts from "../../../src/store/redis-registrations.js";
import * as scripts from "../../../src/store/redis-scripts.js";

/** Commands whose every argument is a key; for all others the first argument is the one key. */
const ALL_KEYS = new Set(["DEL", "EXISTS", "UNLINK"]);

/** The ways a script's source reaches for a key that KEYS did not declare. */
export function undeclaredKeys(source: string): string[] {
  const problems: string[] = [];
  const keyParams = new Set<string>();
  for (const m of source.matchAll(/function\s+\w+\(([^)]*)\)/g)) {
    for (const p of m[1]!.split(",").map((s) => s.trim())) if (p.endsWith("Key")) keyParams.add(p);
  }
  // A `…Key` name may only ever be bound to KEYS[n].
  for (const m of source.matchAll(/\b(\w+Key)\s*=\s*([^\n]+)/g)) {
    if (!/^KEYS\[\d+\]\s*$/.test(m[2]!)) problems.push(`${m[1]} = ${m[2]}`);
  }
  // Helpers that take a key are called with KEYS[n].
  for (const m of source.matchAll(/(?<!function )\b(emit)\(([^,]+),/g)) {
    if (!/^KEYS\[\d+\]$/.test(m[2]!.trim())) problems.push(`${m[1]}(${m[2]}, …)`);
  }
  const isKey = (arg: string) => /^KEYS\[\d+\]$/.test(arg) || keyParams.has(arg);
  for (const m of source.matchAll(/redis\.call\(\s*'(\w+)'\s*((?:,[^,()]*(?:\([^()]*\))?[^,()]*)*)\)/g)) {
    const command = m[1]!.toUpperCase();
    const args = m[2]!.split(",").slice(1).map((a) => a.trim());
    const keys = ALL_KEYS.has(command) ? args : args.slice(0, 1);
    for (const key of keys) if (!isKey(key)) problems.push(`${command} ${key}`);
  }
  // Key prefixes or names as literals: 'rt:', "cred-id:", 'events'.
  for (const m of source.matchAll(/(['"])([\w-]*:|events|epoch)\1/g)) problems.push(`literal ${m[0]}`);
  return problems;
}

const all: Record<string, unknown> = { ...scripts, ...leaseScripts, ...enrolmentScripts, ...registrationScripts };
const luaScripts = Object.entries(all).filter(
  (entry): entry is [string, string] => typeof entry[1] === "string" && /redis\.call/.test(entry[1]) && entry[0] !== "prelude",
);

describe("Redis scripts declare their keys", () => {
  it("finds the scripts (so the check below checks something)", () => {
    expect(luaScripts.length).toBeGreaterThanOrEqual(20);
  });

  it.each(luaScripts)("%s touches only KEYS", (_name, source) => {
    expect(undeclaredKeys(source)).toEqual([]);
  });

  it("the check catches keys built in Lua", () => {
    expect(undeclaredKeys(`local p = ARGV[1]\nredis.call('GET', p..'rt:'..ARGV[2])`)).not.toEqual([]);
    expect(undeclaredKeys(`redis.call('HGET', ARGV[1], 'x')`)).toEqual(["HGET ARGV[1]"]);
    expect(undeclaredKeys(`local regsKey = ARGV[1]..'x'\nredis.call('SMEMBERS', regsKey)`)).not.toEqual([]);
    expect(undeclaredKeys(`redis.call('DEL', KEYS[1], ARGV[2])`)).toEqual(["DEL ARGV[2]"]);
    expect(undeclaredKeys(`for _, d in ipairs(redis.call('SMEMBERS', KEYS[1])) do redis.call('DEL', d) end`)).toEqual(["DEL d"]);
    expect(undeclaredKeys(`local function emit(eventsKey, x) end\nemit(ARGV[1], 1)`)).not.toEqual([]);
  });
});
