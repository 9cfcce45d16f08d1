import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { peerKey } from "../../../src/admission/peer.js";
import { checkAdmissionLimits } from "../../../src/admission/limits-check.js";
import { DEFAULT_LIMITS } from "../../../src/protocol/constants.js";
import { chunk, followPages, takePage, wireBytes } from "../../../src/paging/index.js";

const limits = { pageSize: 3, maxPageSize: 5, pageBytes: 100 };
const id = (s: string) => s;
const one = () => 1;

describe("takePage", () => {
  it("property: following the tokens yields every item once, in code-unit order, each page within its bounds", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ maxLength: 6 }), { maxLength: 40 }), fc.integer({ min: 0, max: 9 }), (keys, pageSize) => {
        const size = (k: string) => 10 + k.length * 7;
        const seen: string[] = [];
        let token = "";
        let pages = 0;
        do {
          const page = takePage(keys, id, size, { pageSize, pageToken: token }, limits);
          expect(page.items.length).toBeLessThanOrEqual(pageSize === 0 ? limits.pageSize : Math.min(pageSize, limits.maxPageSize));
          if (page.items.length > 1) expect(page.items.reduce((n, k) => n + size(k), 0)).toBeLessThanOrEqual(limits.pageBytes);
          seen.push(...page.items);
          token = page.nextPageToken;
          pages++;
        } while (token !== "" && pages <= keys.length + 1);
        expect(seen).toEqual([...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      }),
    );
  });

  it("continues after the last key served even when items came and went between pages", () => {
    const first = takePage(["b", "d", "f", "h"], id, one, { pageSize: 2, pageToken: "" }, limits);
    expect(first.items).toEqual(["b", "d"]);
    const next = takePage(["a", "c", "f", "h"], id, one, { pageSize: 2, pageToken: first.nextPageToken }, limits);
    expect(next.items).toEqual(["f", "h"]);
    expect(next.nextPageToken).toBe("");
  });

  it("refuses a token it did not issue and a negative page size, naming the field", () => {
    for (const pageToken of ["not a token", "bm90LW91cnM", "x".repeat(600)]) {
      const err = ConnectError.from((() => { try { takePage(["a"], id, one, { pageSize: 0, pageToken }, limits); } catch (e) { return e; } })());
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.message).toMatch(/page_token/);
    }
    expect(() => takePage(["a"], id, one, { pageSize: -1, pageToken: "" }, limits)).toThrow(/page_size/);
  });
});

describe("chunk", () => {
  it("always yields at least one chunk, puts an oversize item alone, and keeps order", () => {
    expect(chunk([], one, 5, 10)).toEqual([[]]);
    expect(chunk(["aa", "bbbbbbbbbbbb", "c"], (s) => s.length, 5, 10)).toEqual([["aa"], ["bbbbbbbbbbbb"], ["c"]]);
    expect(chunk(["a", "b", "c"], one, 2, 10)).toEqual([["a", "b"], ["c"]]);
  });
});

describe("wireBytes", () => {
  it("property: never less than the UTF-8 bytes nor the JSON string's bytes (quotes aside)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        expect(wireBytes(s)).toBeGreaterThanOrEqual(Buffer.byteLength(s, "utf8"));
        expect(wireBytes(s)).toBeGreaterThanOrEqual(Buffer.byteLength(JSON.stringify(s), "utf8") - 2);
      }),
    );
  });
});

describe("peerKey", () => {
  it("keys IPv4 as is, unwraps IPv4-mapped IPv6 and groups IPv6 by /64", () => {
    expect(peerKey("127.0.0.1")).toBe("127.0.0.1");
    expect(peerKey("::ffff:10.1.2.3")).toBe("10.1.2.3");
    expect(peerKey("2001:db8:0:1::7")).toBe(peerKey("2001:0db8:0000:0001:ffff:1:2:3"));
    expect(peerKey("2001:db8:0:1::7")).not.toBe(peerKey("2001:db8:0:2::7"));
    expect(peerKey("::1")).toBe("0:0:0:0::/64");
    expect(peerKey(undefined)).toBe("unknown");
  });
});

describe("checkAdmissionLimits", () => {
  it("accepts the defaults and refuses limits under which one runtime's registrations outgrow a page", () => {
    expect(() => checkAdmissionLimits(DEFAULT_LIMITS)).not.toThrow();
    expect(() => checkAdmissionLimits({ ...DEFAULT_LIMITS, registrationMetadataBytes: 64 * 1024 })).toThrow(/registrationsPerRuntime/);
    expect(() => checkAdmissionLimits({ ...DEFAULT_LIMITS, pageSize: 2000 })).toThrow(/pageSize/);
  });
});

describe("followPages", () => {
  it("requests pages until the token is empty, and refuses a repeated token", async () => {
    const pages: Record<string, { nextPageToken: string; n: number }> = { "": { nextPageToken: "a", n: 1 }, a: { nextPageToken: "b", n: 2 }, b: { nextPageToken: "", n: 3 } };
    expect((await followPages(async (t) => pages[t]!)).map((p) => p.n)).toEqual([1, 2, 3]);
    await expect(followPages(async () => ({ nextPageToken: "same" }))).rejects.toThrow(/twice/);
  });
});
