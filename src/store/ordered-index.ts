/**
 * key → ids kept sorted (code-unit order), for pages that cost O(page) (+ log n) rather than a sort of
 * every id: the memory store's registrations per service type. Inserting moves the tail of one
 * array (a memmove, microseconds at 10,000 ids); empty keys are dropped.
 */
export interface OrderedIndex {
  add(key: string, id: string): void;
  delete(key: string, id: string): void;
  /** Up to `limit` ids after `afterId` (exclusive; undefined: from the first). */
  after(key: string, afterId: string | undefined, limit: number): string[];
  /** The ids at ranks [offset, offset + limit). */
  at(key: string, offset: number, limit: number): string[];
  size(key: string): number;
}

/** The first index whose id is > id (`inclusive`: >= id). */
function bound(ids: readonly string[], id: string, inclusive: boolean): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = ids[mid]!;
    if (v < id || (!inclusive && v === id)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function createOrderedIndex(): OrderedIndex {
  const lists = new Map<string, string[]>();
  return {
    add(key, id) {
      let ids = lists.get(key);
      if (!ids) lists.set(key, (ids = []));
      const i = bound(ids, id, true);
      if (ids[i] !== id) ids.splice(i, 0, id);
    },
    delete(key, id) {
      const ids = lists.get(key);
      if (!ids) return;
      const i = bound(ids, id, true);
      if (ids[i] !== id) return;
      ids.splice(i, 1);
      if (ids.length === 0) lists.delete(key);
    },
    after(key, afterId, limit) {
      const ids = lists.get(key);
      if (!ids) return [];
      const start = afterId === undefined ? 0 : bound(ids, afterId, false);
      return ids.slice(start, start + limit);
    },
    at(key, offset, limit) {
      return lists.get(key)?.slice(offset, offset + limit) ?? [];
    },
    size: (key) => lists.get(key)?.length ?? 0,
  };
}
