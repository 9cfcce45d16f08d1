/** key → set of ids, with empty sets dropped: the memory store's secondary indexes (name → runtimes, …). */
export interface SetIndex {
  add(key: string, id: string): void;
  delete(key: string, id: string): void;
  members(key: string): ReadonlySet<string>;
}

const EMPTY: ReadonlySet<string> = new Set();

export function createSetIndex(): SetIndex {
  const sets = new Map<string, Set<string>>();
  return {
    add(key, id) {
      let set = sets.get(key);
      if (!set) sets.set(key, (set = new Set()));
      set.add(id);
    },
    delete(key, id) {
      const set = sets.get(key);
      if (set?.delete(id) && set.size === 0) sets.delete(key);
    },
    members: (key) => sets.get(key) ?? EMPTY,
  };
}
