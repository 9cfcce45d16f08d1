import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { SelectionStrategy, type DiscoverResponse } from "../../../gen/plugboard/v1/registry_pb.js";
import { bearer } from "../../helpers/transports.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import type { RegistrationRecord } from "../../../src/store/types.js";

const KV = "kv.v1.KVService";
let t: TestHost;
afterEach(async () => t?.close());

const record = (registrationId: string, overrides: Partial<RegistrationRecord> = {}): RegistrationRecord => ({
  registrationId,
  serviceType: KV,
  version: "1.0.0",
  runtimeId: `rt_${registrationId}`,
  pluginName: "kv",
  endpoint: `http://127.0.0.1:9/${registrationId}`,
  metadata: {},
  weight: 1,
  health: 1,
  ...overrides,
});

async function consumer(): Promise<{ headers: Record<string, string> }> {
  return bearer((await t.handshake({ pluginName: "consumer" })).token);
}

const ids = (page: DiscoverResponse) => page.providers.map((p) => p.registrationId);
const codeUnitOrder = (xs: string[]) => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

describe("Discover pages", () => {
  it("serves every provider once, in registration-id order (code units), across pages; the pick comes on the first page only", async () => {
    t = await startTestHost();
    const all = Array.from({ length: 23 }, (_, i) => `rg_${String.fromCharCode(i % 2 ? 65 + i : 97 + i)}${i}`);
    for (const id of all) await t.host.store.putRegistration(record(id));
    const auth = await consumer();
    const seen: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const page = await t.clients("connect").registry.discover({ serviceType: KV, pageSize: 5, pageToken: token, strategy: SelectionStrategy.ROUND_ROBIN }, auth);
      expect(page.providers.length).toBeLessThanOrEqual(5);
      expect(page.selected !== undefined).toBe(pages === 0);
      seen.push(...ids(page));
      token = page.nextPageToken;
      pages++;
    } while (token !== "" && pages < 20);
    expect(seen).toEqual(codeUnitOrder(all));
    expect(pages).toBe(5);
  });

  it("keeps its place while providers come and go between pages: no duplicates, removed ones gone, later additions included", async () => {
    t = await startTestHost();
    for (const id of ["rg_b", "rg_d", "rg_f", "rg_h", "rg_j"]) await t.host.store.putRegistration(record(id));
    const auth = await consumer();
    const { registry } = t.clients("grpc");
    const first = await registry.discover({ serviceType: KV, pageSize: 2 }, auth);
    expect(ids(first)).toEqual(["rg_b", "rg_d"]);
    // Meanwhile: a served one and an unserved one leave; one joins before the cursor, one after it.
    await Promise.all([
      t.host.store.removeRegistration("rg_b", "unregistered"),
      t.host.store.removeRegistration("rg_f", "unregistered"),
      t.host.store.putRegistration(record("rg_a")),
      t.host.store.putRegistration(record("rg_g")),
    ]);
    const second = await registry.discover({ serviceType: KV, pageSize: 2, pageToken: first.nextPageToken }, auth);
    expect(ids(second)).toEqual(["rg_g", "rg_h"]);
    const third = await registry.discover({ serviceType: KV, pageSize: 2, pageToken: second.nextPageToken }, auth);
    expect(ids(third)).toEqual(["rg_j"]);
    expect(third.nextPageToken).toBe("");
  });

  it("pages over filters: versions out of range and unhealthy providers are skipped, a page may come back short, the listing stays complete", async () => {
    t = await startTestHost();
    const wanted: string[] = [];
    for (let i = 0; i < 40; i++) {
      const id = `rg_${String(i).padStart(2, "0")}`;
      const match = i % 13 === 5;
      if (match) wanted.push(id);
      await t.host.store.putRegistration(record(id, { version: match ? "2.1.0" : "1.0.0", health: i === 30 ? 3 : 1 }));
    }
    await t.host.store.putRegistration(record("rg_99", { version: "2.0.0", health: 3 }));
    const auth = await consumer();
    const { registry } = t.clients("connect");
    const follow = async (includeUnhealthy: boolean) => {
      const seen: string[] = [];
      let token = "";
      let pages = 0;
      do {
        const page = await registry.discover({ serviceType: KV, versionRange: "^2.0.0", includeUnhealthy, pageSize: 1, pageToken: token }, auth);
        seen.push(...ids(page));
        token = page.nextPageToken;
        pages++;
      } while (token !== "" && pages < 100);
      return { seen, pages };
    };
    const healthy = await follow(false);
    expect(healthy.seen).toEqual(wanted);
    // Long runs of non-matching providers end a page early (a bounded scan) rather than reading them all.
    expect(healthy.pages).toBeGreaterThan(wanted.length + 1);
    expect((await follow(true)).seen).toEqual([...wanted, "rg_99"]);
  });

  it("refuses a tampered, foreign or garbage page token with InvalidArgument naming page_token", async () => {
    t = await startTestHost();
    for (const id of ["rg_a", "rg_b", "rg_c"]) await t.host.store.putRegistration(record(id));
    const auth = await consumer();
    const { registry } = t.clients("connect");
    const first = await registry.discover({ serviceType: KV, pageSize: 1 }, auth);
    const token = first.nextPageToken;
    const raw = Buffer.from(token, "base64url").toString("utf8");
    const edited = Buffer.from(raw.slice(0, -1) + "z", "utf8").toString("base64url");
    const flipped = token.slice(0, 5) + (token[5] === "A" ? "B" : "A") + token.slice(6);
    const attempts: Array<[string, Partial<{ serviceType: string; versionRange: string; includeUnhealthy: boolean }>]> = [
      [edited, {}],
      [flipped, {}],
      ["garbage", {}],
      ["x".repeat(600), {}],
      [Buffer.from("p1:rg_a").toString("base64url"), {}],
      // A real token, but of another listing: another type or other filters.
      [token, { serviceType: "other.v1.Other" }],
      [token, { versionRange: "^2.0.0" }],
      [token, { includeUnhealthy: true }],
    ];
    for (const [pageToken, changes] of attempts) {
      const err = await registry.discover({ serviceType: KV, pageSize: 1, pageToken, ...changes }, auth).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(err?.code, pageToken).toBe(Code.InvalidArgument);
      expect(err?.rawMessage).toMatch(/page_token/);
      expect(err?.rawMessage).not.toContain(pageToken.slice(0, 20));
    }
    expect(ids(await registry.discover({ serviceType: KV, pageSize: 1, pageToken: token }, auth))).toEqual(["rg_b"]);
  });

  it("picks by strategy without listing: round-robin visits every matching provider, skipping those that do not match", async () => {
    t = await startTestHost();
    for (const id of ["rg_a", "rg_b", "rg_c", "rg_d"]) await t.host.store.putRegistration(record(id, { health: id === "rg_c" ? 3 : 1 }));
    const auth = await consumer();
    const { registry } = t.clients("connect");
    const picked = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const r = await registry.discover({ serviceType: KV, pageSize: 1, strategy: SelectionStrategy.ROUND_ROBIN }, auth);
      picked.add(r.selected!.registrationId);
    }
    expect([...picked].sort()).toEqual(["rg_a", "rg_b", "rg_d"]);
    for (let i = 0; i < 8; i++) {
      const r = await registry.discover({ serviceType: KV, pageSize: 1, strategy: SelectionStrategy.RANDOM }, auth);
      expect(r.selected!.registrationId).not.toBe("rg_c");
    }
    const first = await registry.discover({ serviceType: KV, pageSize: 1 }, auth);
    expect(first.selected!.registrationId).toBe("rg_a");
    const none = await registry.discover({ serviceType: KV, versionRange: "^9.0.0", strategy: SelectionStrategy.RANDOM }, auth);
    expect(none.selected).toBeUndefined();
    expect(none.providers).toEqual([]);
  });
});
