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
}

/** Counted slots with a cap per key and a cap in total; memory is bounded by the keys holding slots. */
export function createSlots(perKey: number, total: number): Slots {
  const byKey = new Map<string, number>();
  let used = 0;
  function take(key: string): SlotRefusal | undefined {
    const held = byKey.get(key) ?? 0;
    if (held >= perKey) return "perPeer";
    if (used >= total) return "total";
    byKey.set(key, held + 1);
    used++;
    return undefined;
  }
  function give(key: string): void {
    used--;
    const left = (byKey.get(key) ?? 1) - 1;
    if (left > 0) byKey.set(key, left);
    else byKey.delete(key);
  }
  return {
    get used() {
      return used;
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
