import { createHash } from "node:crypto";
import type { RedisClient } from "./redis-source.js";

/** Runs a script with its KEYS (every key it touches, all in one slot) and ARGV. */
export type ScriptRunner = (script: string, keys: readonly string[], args: Array<string | number>) => Promise<unknown>;

/**
 * EVALSHA with a fallback to EVAL on NOSCRIPT: the script cache is empty after a
 * Redis restart, and we do not touch the caller's client with defineCommand.
 * Redis Cluster routes each call by its KEYS.
 */
export function createScriptRunner(client: RedisClient): ScriptRunner {
  const shas = new Map<string, string>();
  const shaOf = (script: string) => {
    let sha = shas.get(script);
    if (sha === undefined) {
      sha = createHash("sha1").update(script).digest("hex");
      shas.set(script, sha);
    }
    return sha;
  };
  return async (script, keys, args) => {
    try {
      return await client.evalsha(shaOf(script), keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
      return client.eval(script, keys.length, ...keys, ...args);
    }
  };
}
