import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

export type ScriptRunner = (script: string, args: Array<string | number>) => Promise<unknown>;

/**
 * EVALSHA with a fallback to EVAL on NOSCRIPT: the script cache is empty after a
 * Redis restart, and we do not touch the caller's client with defineCommand.
 */
export function createScriptRunner(client: Redis): ScriptRunner {
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
      return await client.evalsha(shaOf(script), 0, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
      return client.eval(script, 0, ...args);
    }
  };
}
