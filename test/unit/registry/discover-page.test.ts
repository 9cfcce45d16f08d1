/**
 * One Discover page read from the store's ordered index: bounded in count, bytes and providers looked
 * at, with a token that continues exactly this listing. Written against `npm run mutate -- registry`.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { discoverPage, SCAN_FACTOR } from "../../../src/registry/discover-page.js";
import { registrationWireBytes, type PageLimits } from "../../../src/paging/index.js";
import type { RegistrationRecord } from "../../../src/store/types.js";
import { registrationRecord } from "../../helpers/registration-record.js";

const reg = registrationRecord;
const ids = (rs: RegistrationRecord[]) => rs.map((r) => r.registrationId);
const SIZE = registrationWireBytes(reg("r00"));

/** The store's index of one type (ids in order), counting the providers read. */
const storeOf = (all: RegistrationRecord[]) => {
  const reads: number[] = [];
  return {
    reads,
    store: {
      pageRegistrations: async (_type: string, after: string | undefined, limit: number) => {
        const from = after === undefined ? 0 : all.findIndex((r) => r.registrationId > after);
        const batch = from === -1 ? [] : all.slice(from, from + limit);
        reads.push(batch.length);
        return batch;
      },
    },
  };
};
const many = (n: number, init: (i: number) => Partial<RegistrationRecord> = () => ({})) =>
  Array.from({ length: n }, (_, i) => reg(`r${String(i).padStart(2, "0")}`, init(i)));
const limits: PageLimits = { pageSize: 3, maxPageSize: 5, pageBytes: 1_000_000 };
const all = () => true;

/** Every page of a listing, following the tokens. */
async function pages(store: ReturnType<typeof storeOf>["store"], matches: (r: RegistrationRecord) => boolean, pageSize: number, l = limits) {
  const out: string[][] = [];
  let pageToken = "";
  do {
    const page = await discoverPage(store, "kv.v1.Kv", matches, { pageSize, pageToken }, l);
    out.push(ids(page.items));
    pageToken = page.nextPageToken;
  } while (pageToken !== "" && out.length < 100);
  return out;
}

describe("discoverPage", () => {
  it("pages of the size asked for (default pageSize, capped at maxPageSize), the last with no token", async () => {
    const { store } = storeOf(many(7));
    expect(await pages(store, all, 0)).toEqual([["r00", "r01", "r02"], ["r03", "r04", "r05"], ["r06"]]);
    expect(await pages(store, all, 4)).toEqual([["r00", "r01", "r02", "r03"], ["r04", "r05", "r06"]]);
    expect(await pages(store, all, 50)).toEqual([["r00", "r01", "r02", "r03", "r04"], ["r05", "r06"]]);
  });

  it("a listing that fills its last page exactly ends there, without an empty page after it", async () => {
    const { store } = storeOf(many(6));
    expect(await pages(store, all, 3)).toEqual([["r00", "r01", "r02"], ["r03", "r04", "r05"]]);
    expect(await pages(storeOf([]).store, all, 3)).toEqual([[]]);
  });

  it("only matching providers, the listing complete over its pages", async () => {
    const { store } = storeOf(many(9));
    expect(await pages(store, (r) => r.registrationId !== "r01" && r.registrationId !== "r04", 3)).toEqual([
      ["r00", "r02", "r03"],
      ["r05", "r06", "r07"],
      ["r08"],
    ]);
  });

  it("stops at pageBytes, but a provider larger than pageBytes by itself still travels, alone", async () => {
    const { store } = storeOf(many(4));
    expect(await pages(store, all, 5, { ...limits, pageBytes: 2 * SIZE })).toEqual([["r00", "r01"], ["r02", "r03"]]);
    expect(await pages(store, all, 5, { ...limits, pageBytes: 2 * SIZE - 1 })).toEqual([["r00"], ["r01"], ["r02"], ["r03"]]);
    expect(await pages(store, all, 5, { ...limits, pageBytes: 1 })).toEqual([["r00"], ["r01"], ["r02"], ["r03"]]);
  });

  it("counts the bytes already reserved (the pick) against the first page", async () => {
    const { store } = storeOf(many(4));
    const page = await discoverPage(store, "kv.v1.Kv", all, { pageSize: 5, pageToken: "" }, { ...limits, pageBytes: 3 * SIZE }, SIZE);
    expect(ids(page.items)).toEqual(["r00", "r01"]);
  });

  it("looks at most SCAN_FACTOR × page size providers: a page of few matches comes back short, with a token", async () => {
    const { store, reads } = storeOf(many(40, (i) => ({ version: i === 30 ? "1.0.0" : "2.0.0" })));
    const matches = (r: RegistrationRecord) => r.version === "1.0.0";
    const first = await discoverPage(store, "kv.v1.Kv", matches, { pageSize: 2, pageToken: "" }, limits);
    expect(first.items).toEqual([]);
    expect(first.nextPageToken).not.toBe("");
    expect(reads.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(SCAN_FACTOR * 2 + 3);
    // Eight providers looked at per page; the fifth page ends on the last provider, so a sixth finds none.
    expect(await pages(store, matches, 2)).toEqual([[], [], [], ["r30"], [], []]);
  });

  it("a token continues only the listing it came from: another type or other filters are InvalidArgument", async () => {
    const { store } = storeOf(many(5));
    const first = await discoverPage(store, "kv.v1.Kv", all, { pageSize: 2, pageToken: "" }, limits, 0, "^1\0false");
    const again = await discoverPage(store, "kv.v1.Kv", all, { pageSize: 2, pageToken: first.nextPageToken }, limits, 0, "^1\0false");
    expect(ids(again.items)).toEqual(["r02", "r03"]);
    for (const [type, filters] of [["kv.v1.Other", "^1\0false"], ["kv.v1.Kv", "^1\0true"], ["kv.v1.Kv", ""]] as const) {
      const err = await discoverPage(store, type, all, { pageSize: 2, pageToken: first.nextPageToken }, limits, 0, filters).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(err?.code).toBe(Code.InvalidArgument);
      expect(err?.rawMessage).toMatch(/^page_token: /);
    }
  });
});
