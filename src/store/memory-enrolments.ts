import type { EnrolmentRecord, Store } from "./types.js";

type EnrolmentMethods = Pick<Store, "putEnrolment" | "getEnrolment" | "useEnrolment" | "revokeEnrolment">;

/** Enrolment records of the memory store; each call runs to completion on one tick, so `useEnrolment` is atomic. */
export function createMemoryEnrolments(): EnrolmentMethods & { sweep(now: number): void } {
  const records = new Map<string, EnrolmentRecord>(); // digest → record
  const ids = new Map<string, string>(); // public id → digest
  const live = (digest: string): EnrolmentRecord | undefined => {
    const record = records.get(digest);
    if (!record) return undefined;
    if (record.expiresAt > Date.now() && record.usesLeft > 0) return record;
    drop(digest);
    return undefined;
  };
  const drop = (digest: string) => {
    const record = records.get(digest);
    records.delete(digest);
    if (record && ids.get(record.id) === digest) ids.delete(record.id);
  };
  return {
    async putEnrolment(digest, record) {
      drop(digest);
      records.set(digest, { ...record });
      ids.set(record.id, digest);
    },
    async getEnrolment(digest) {
      const record = live(digest);
      return record && { ...record };
    },
    async useEnrolment(digest) {
      const record = live(digest);
      if (!record) return false;
      record.usesLeft--;
      if (record.usesLeft <= 0) drop(digest);
      return true;
    },
    async revokeEnrolment(id) {
      const digest = ids.get(id);
      if (digest === undefined || !live(digest)) return false;
      drop(digest);
      return true;
    },
    sweep(now) {
      for (const [digest, record] of records) if (record.expiresAt <= now) drop(digest);
    },
  };
}
