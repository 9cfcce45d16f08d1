import { randomBytes } from "node:crypto";
import { drawRandom, tokenDigest, type RandomSource } from "../tokens/tokens.js";

/**
 * Per-instance launch secrets: the launcher hands one to each process it starts;
 * the handshake accepts it once, for the plugin name it was issued to, before it
 * expires. Kept as digests only.
 */
export interface LaunchSecrets {
  issue(pluginName: string, ttlMs?: number): string;
  /** True once per issued secret; false for unknown, reused, expired or other-plugin secrets. */
  consume(pluginName: string, secret: string): boolean;
}

export function createLaunchSecrets(random: RandomSource = randomBytes, now: () => number = Date.now): LaunchSecrets {
  const pending = new Map<string, { pluginName: string; expiresAt: number }>();
  const prune = () => {
    const t = now();
    for (const [digest, entry] of pending) if (entry.expiresAt <= t) pending.delete(digest);
  };
  return {
    issue(pluginName, ttlMs = 5 * 60_000) {
      prune();
      const secret = "pbls_" + drawRandom(random, 32).toString("base64url");
      pending.set(tokenDigest(secret), { pluginName, expiresAt: now() + ttlMs });
      return secret;
    },
    consume(pluginName, secret) {
      const digest = tokenDigest(secret);
      const entry = pending.get(digest);
      if (!entry) return false;
      pending.delete(digest);
      return entry.pluginName === pluginName && entry.expiresAt > now();
    },
  };
}
