/** Why a slot was refused: the peer's share or the total is used up. */
export type SlotRefusal = "perPeer" | "total";

export interface Slots {
  /** Takes a slot for `key`: returns its release (idempotent), or why none is free. */
  acquire(key: string): (() => void) | SlotRefusal;
  /** The same without a release function (no closure per slot): undefined when taken; `give(key)` returns it, once. */
  take(key: string): SlotRefusal | undefined;
  give(key: string): void;
  /** Slots in use (all keys). */
  readonly used: number;
  /** Keys tracked (those holding slots, and up to `sweepAbove` more whose count fell to zero). */
  readonly keys: number;
}

/**
 * Counted slots with a cap per key and a cap in total. A key whose count falls to zero stays in the
 * map (deleting and re-adding the one busy peer's key on every request churns the hash table); zero
 * entries are swept once more than `sweepAbove` keys are tracked, so memory stays bounded by the keys
 * holding slots plus `sweepAbove`.
 */
export function createSlots(perKey: number, total: number, sweepAbove = 1024): Slots {
  const byKey = new Map<string, number>();
  let used = 0;
  function take(key: string): SlotRefusal | undefined {
    const held = byKey.get(key) ?? 0;
    if (held >= perKey) return "perPeer";
    if (used >= total) return "total";
    byKey.set(key, held + 1);
    used++;
    if (held === 0 && byKey.size > sweepAbove) sweep();
    return undefined;
  }
  function give(key: string): void {
    // Only a held slot comes back: a second give (or one for a key holding none) must not free another's.
    const held = byKey.get(key) ?? 0;
    if (held === 0) return;
    byKey.set(key, held - 1);
    used--;
  }
  function sweep(): void {
    for (const [key, n] of byKey) if (n === 0) byKey.delete(key);
  }
  return {
    get used() {
      return used;
    },
    get keys() {
      return byKey.size;
    },
    acquire(key) {
      const refused = take(key);
      if (refused !== undefined) return refused;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        give(key);
      };
    },
    take,
    give,
  };
}
