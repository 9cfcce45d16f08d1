import { randomBytes } from "node:crypto";
import { drawRandom, tokenDigest, type RandomSource } from "../tokens/tokens.js";

/** What a presented launch secret is worth, before anything is spent. */
export type LaunchSecretCheck = "valid" | "unknown" | "other-plugin";

/**
 * Per-instance launch secrets: the launcher hands one to each process it starts;
 * the handshake accepts it once, for the plugin name it was issued to, before it
 * expires. Kept as digests only. Checking and spending are separate so that a refused
 * handshake (bad base_url, policy, someone else's name) never burns the secret.
 */
export interface LaunchSecrets {
  issue(pluginName: string, ttlMs?: number): string;
  /** Whether the secret is live and was issued to this plugin name; spends nothing. */
  check(pluginName: string, secret: string): LaunchSecretCheck;
  /** Spends the secret; true once per issued secret, and only for the plugin name it was issued to. */
  consume(pluginName: string, secret: string): boolean;
}

export function createLaunchSecrets(random: RandomSource = randomBytes, now: () => number = Date.now): LaunchSecrets {
  const pending = new Map<string, { pluginName: string; expiresAt: number }>();
  const prune = () => {
    const t = now();
    for (const [digest, entry] of pending) if (entry.expiresAt <= t) pending.delete(digest);
  };
  const live = (secret: string) => {
    const entry = pending.get(tokenDigest(secret));
    return entry && entry.expiresAt > now() ? entry : undefined;
  };
  return {
    issue(pluginName, ttlMs = 5 * 60_000) {
      prune();
      const secret = "pbls_" + drawRandom(random, 32).toString("base64url");
      pending.set(tokenDigest(secret), { pluginName, expiresAt: now() + ttlMs });
      return secret;
    },
    check(pluginName, secret) {
      const entry = live(secret);
      if (!entry) return "unknown";
      return entry.pluginName === pluginName ? "valid" : "other-plugin";
    },
    consume(pluginName, secret) {
      const entry = live(secret);
      // A secret presented under another name stays with its owner.
      if (!entry || entry.pluginName !== pluginName) return false;
      pending.delete(tokenDigest(secret));
      return true;
    },
  };
}
