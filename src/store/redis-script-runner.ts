import { createHash } from "node:crypto";
import type { RedisClient } from "./redis-source.js";

export type ScriptRunner = (script: string, args: Array<string | number>) => Promise<unknown>;

/**
 * EVALSHA with a fallback to EVAL on NOSCRIPT: the script cache is empty after a
 * Redis restart, and we do not touch the caller's client with defineCommand.
 *
 * Every script declares one key, `anchorKey`: all of a deployment's keys share its hash tag
 * (`{plugboard}:…`), so they live in that key's slot and Redis Cluster routes the script to
 * the node that holds them all.
 */
export function createScriptRunner(client: RedisClient, anchorKey: string): ScriptRunner {
  const shas = new Map<string, string>();
  const shaOf = (script: string) => {
    let sha = shas.get(script);
    if (sha === undefined) {
      sha = createHash("sha1").update(script).digest("hex");
      shas.set(script, sha);
    }
    return sha;
  };
  return async (script, args) => {
    try {
      return await client.evalsha(shaOf(script), 1, anchorKey, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
      return client.eval(script, 1, anchorKey, ...args);
    }
  };
}
