import { decodeCredential } from "./redis-codec.js";
import type { StepRunner, StoreContext } from "./redis-context.js";
import * as scripts from "./redis-scripts.js";
import type { Store } from "./types.js";

type CredentialMethods = Pick<Store, "putCredential" | "getCredential" | "findCredentialById" | "deleteCredential" | "rotateCredential">;

/**
 * Credentials live in their digest's bucket (`cred:<digest>`: a caller presents only the token), their
 * id pointer in the id's bucket, their runtime's index of digests with the runtime. Every step is one
 * single-slot script; which step is the security write is chosen so that a half-done sequence never
 * accepts a revoked token:
 * - deleting a credential: `cred:<digest>` goes first, atomically; pointer and index are tidied after.
 * - a credential is only accepted while its runtime is live (token-authenticator reads both; a grant's
 *   runtime must be the authenticated caller), so removing a runtime (one script on its bucket) is a
 *   complete revocation, and a credential stored after its runtime was removed is inert.
 */
export function createRedisCredentials(ctx: StoreContext): CredentialMethods & {
  dropCredential(s: StepRunner, digest: string, expiredBy: number | "", ofRuntime?: string): Promise<boolean>;
} {
  const { client, layout, origin, maxLen, ready } = ctx;

  /** Deletes one credential (only if expired by `expiredBy` / of `ofRuntime` when set), then its pointer and index entry. */
  const dropCredential = async (s: StepRunner, digest: string, expiredBy: number | "", ofRuntime = "") => {
    const k = layout.credential(digest);
    const info = (await s.run(scripts.DROP_CREDENTIAL, [k.cred, k.credExp, k.events], [digest, expiredBy, origin, maxLen, ofRuntime])) as
      | [string, string]
      | null;
    if (!info) return false;
    const [id, runtimeId] = info;
    if (id) await s.run(scripts.DEL_IF, [layout.credentialId(id)], [digest]);
    if (runtimeId) {
      const creds = layout.runtime(runtimeId).creds;
      s.touch(creds);
      await s.client.srem(creds, digest);
    }
    return true;
  };

  return {
    dropCredential,
    async putCredential(digest, record) {
      ready();
      const ttl = Math.ceil(record.expiresAt - Date.now());
      const k = layout.credential(digest);
      await ctx.durable(async (s) => {
        // Indexed under its runtime first, so a removal of the runtime meanwhile finds and deletes it.
        await s.run(scripts.INDEX_CREDENTIAL, layout.runtimeKeyList(layout.runtime(record.runtimeId)), [digest, ttl]);
        const stored = await s.run(scripts.PUT_CREDENTIAL, [k.cred, k.credExp], [digest, JSON.stringify(record), record.id, record.runtimeId, ttl, record.expiresAt]);
        if (stored !== 1) return;
        s.touch(layout.credentialId(record.id));
        await s.client.set(layout.credentialId(record.id), digest, "PX", ttl);
      });
    },
    async getCredential(digest) {
      ready();
      const record = decodeCredential(await client.hget(layout.credential(digest).cred, "rec"));
      return record && record.expiresAt > Date.now() ? record : undefined;
    },
    async findCredentialById(id) {
      ready();
      const digest = await client.get(layout.credentialId(id));
      if (digest === null) return undefined;
      const record = decodeCredential(await client.hget(layout.credential(digest).cred, "rec"));
      if (!record || record.id !== id || record.expiresAt <= Date.now()) return undefined;
      return { digest, record };
    },
    async deleteCredential(digest) {
      ready();
      await ctx.durable(
        (s) => dropCredential(s, digest, ""),
        (s) => dropCredential(s, digest, ""),
      );
    },
    async rotateCredential(oldId, newDigest, record, now) {
      ready();
      const oldDigest = await client.get(layout.credentialId(oldId));
      if (oldDigest === null) return false;
      const old = layout.credential(oldDigest);
      const fresh = layout.credential(newDigest);
      const rt = layout.runtime(record.runtimeId);
      const credTtl = Math.ceil(record.expiresAt - Date.now());
      // Confirmed by the replicas like a revocation (the old token ends here), but not re-applied on a new
      // primary: replaying it after a later revocation of the new token could bring that token back.
      return ctx.durable(async (s) => {
        // 1. Consume the old token: of concurrent refreshes, on any host, exactly one gets past this.
        const consumed = await s.run(scripts.CONSUME_CREDENTIAL, [old.cred, old.credExp, old.events], [
          oldDigest, record.runtimeId, record.kind, now, origin, maxLen,
        ]);
        if (consumed !== 1) return false;
        await s.run(scripts.DEL_IF, [layout.credentialId(oldId)], [oldDigest]);
        // 2. Extend the runtime if it is still live, indexing the new digest under it (so a removal finds it).
        const name = (await s.run(scripts.ROTATE_RUNTIME, layout.runtimeKeyList(rt), [
          record.runtimeId, now, oldDigest, newDigest, record.expiresAt, ctx.ttlUntil(record.expiresAt), credTtl,
        ])) as string | null;
        if (name === null) return false;
        // 3. Store the new token. Were the runtime removed between 2 and 3, the token is inert (no live runtime).
        const stored = await s.run(scripts.PUT_CREDENTIAL, [fresh.cred, fresh.credExp], [
          newDigest, JSON.stringify(record), record.id, record.runtimeId, credTtl, record.expiresAt,
        ]);
        if (stored !== 1) return false;
        s.touch(layout.credentialId(record.id));
        await s.client.set(layout.credentialId(record.id), newDigest, "PX", credTtl);
        if (name) await s.run(scripts.INDEX_NAME, [layout.runtimeName(name)], [record.runtimeId, record.expiresAt, ctx.ttlUntil(record.expiresAt), now, "0"]);
        return true;
      });
    },
  };
}
