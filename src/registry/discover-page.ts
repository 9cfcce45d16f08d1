import { decodePageToken, encodePageToken, resolvePageSize, registrationWireBytes, type Page, type PageLimits } from "../paging/index.js";
import type { RegistrationRecord, Store } from "../store/types.js";

/** Providers looked at per page, at most, as a multiple of the page size: a page stays O(page) however few providers match. */
export const SCAN_FACTOR = 4;

/**
 * One Discover page read from the store's ordered index (registrationId order), not from a sorted
 * copy of every provider: the providers after the token's key that `matches`, bounded in count and
 * bytes (`reserved` bytes are taken already). When many providers in a row do not match, the page
 * stops after SCAN_FACTOR × page size of them and may come back short (even empty) with a token to
 * go on from: the cost of a page never grows with the number of providers.
 */
export async function discoverPage(
  store: Pick<Store, "pageRegistrations">,
  serviceType: string,
  matches: (r: RegistrationRecord) => boolean,
  request: { pageSize: number; pageToken: string },
  limits: PageLimits,
  reserved = 0,
  /** What the listing is of beyond the type (its filters): a token only continues the listing it came from. */
  filters = "",
): Promise<Page<RegistrationRecord>> {
  const count = resolvePageSize(request.pageSize, limits);
  const scope = `${serviceType}\0${filters}`;
  let cursor = decodePageToken(request.pageToken, scope);
  const budget = SCAN_FACTOR * Math.max(count, 1);
  const items: RegistrationRecord[] = [];
  let bytes = reserved;
  let examined = 0;
  for (;;) {
    // One more than the page holds: whether a next page exists is known without another read.
    const batch = await store.pageRegistrations(serviceType, cursor, count + 1);
    for (const r of batch) {
      if (matches(r)) {
        const size = registrationWireBytes(r);
        if (items.length >= count || (items.length > 0 && bytes + size > limits.pageBytes)) return { items, nextPageToken: encodePageToken(cursor!, scope) };
        items.push(r);
        bytes += size;
      }
      cursor = r.registrationId;
      if (++examined >= budget) return { items, nextPageToken: encodePageToken(cursor, scope) };
    }
    if (batch.length < count + 1) return { items, nextPageToken: "" };
  }
}
