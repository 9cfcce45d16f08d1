import { createHash } from "node:crypto";
import { invalid } from "../validation/fields.js";

export interface PageLimits {
  /** Items per page when a request asks for none. */
  pageSize: number;
  /** Most items per page; larger requests are lowered to it. */
  maxPageSize: number;
  /** Most bytes of items per page (beyond a single item that is larger by itself). */
  pageBytes: number;
}

export interface Page<T> {
  items: T[];
  /** Opaque; empty on the last page. */
  nextPageToken: string;
}

const TOKEN_PREFIX = "p2:";
const CHECK_CHARS = 16;

/** A short digest binding a token to its key and to the listing it pages (service type, filters). */
function check(lastKey: string, scope: string): string {
  return createHash("sha256").update(scope).update("\0").update(lastKey).digest("base64url").slice(0, CHECK_CHARS);
}

/**
 * A page token names the last key served: a later page starts after it, stable while items come
 * and go. It carries a digest of the key and of `scope` (what the listing is of: its filters), so a
 * corrupted or edited token, or one from another listing, is InvalidArgument rather than a silent
 * jump. A token grants nothing: any position in a listing the caller may read is a fair cursor.
 */
export function encodePageToken(lastKey: string, scope = ""): string {
  return Buffer.from(TOKEN_PREFIX + check(lastKey, scope) + lastKey, "utf8").toString("base64url");
}

/** The last key a token names; undefined for the empty (first page) token; InvalidArgument for a token this host did not issue for `scope`. */
export function decodePageToken(token: string, scope = ""): string | undefined {
  if (token === "") return undefined;
  const text = token.length <= 512 && /^[A-Za-z0-9_-]+$/.test(token) ? Buffer.from(token, "base64url").toString("utf8") : "";
  const lastKey = text.slice(TOKEN_PREFIX.length + CHECK_CHARS);
  if (!text.startsWith(TOKEN_PREFIX) || text.slice(TOKEN_PREFIX.length, TOKEN_PREFIX.length + CHECK_CHARS) !== check(lastKey, scope))
    throw invalid("page_token", "not a token this host issued for this listing (same service type and filters)");
  return lastKey;
}

/** The count a request asks for, defaulted and capped. */
export function resolvePageSize(pageSize: number, limits: PageLimits): number {
  if (!Number.isInteger(pageSize) || pageSize < 0) throw invalid("page_size", "must not be negative");
  return pageSize === 0 ? limits.pageSize : Math.min(pageSize, limits.maxPageSize);
}

/**
 * Splits items into consecutive chunks of at most `maxCount` items and `maxBytes` bytes; an item
 * larger than `maxBytes` by itself travels alone. `reserved` bytes of the first chunk are taken already.
 */
export function chunk<T>(items: readonly T[], sizeOf: (item: T) => number, maxCount: number, maxBytes: number, reserved = 0): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = reserved;
  for (const item of items) {
    const size = sizeOf(item);
    if (current.length > 0 && (current.length >= maxCount || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0 || chunks.length === 0) chunks.push(current);
  return chunks;
}

/**
 * One page of `all` (keys unique), in ascending key order (code units), after the request's page token,
 * bounded in count and bytes. `reserved` is the size of what else the response carries.
 */
export function takePage<T>(
  all: readonly T[],
  keyOf: (item: T) => string,
  sizeOf: (item: T) => number,
  request: { pageSize: number; pageToken: string },
  limits: PageLimits,
  reserved = 0,
): Page<T> {
  const count = resolvePageSize(request.pageSize, limits);
  const after = decodePageToken(request.pageToken);
  const sorted = [...all].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
  const start = after === undefined ? 0 : sorted.findIndex((item) => keyOf(item) > after);
  const rest = start < 0 ? [] : sorted.slice(start);
  const [items = []] = chunk(rest, sizeOf, count, limits.pageBytes, reserved);
  const last = items[items.length - 1];
  return { items, nextPageToken: last !== undefined && items.length < rest.length ? encodePageToken(keyOf(last)) : "" };
}

/** Byte-bounded pages must leave room in a message: at most half the message limit. */
export function pageLimitsOf(limits: PageLimits & { maxMessageBytes: number }): PageLimits {
  return { pageSize: limits.pageSize, maxPageSize: limits.maxPageSize, pageBytes: Math.min(limits.pageBytes, Math.floor(limits.maxMessageBytes / 2)) };
}
