import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import type { EnrolmentRecord, Store, StoreEvent } from "../../src/store/index.js";
import { createTokenService } from "../../src/tokens/tokens.js";
import { credentialRecord, digestOf, eventually, registrationRecord, runtimeRecord, shortExpiry, sleep } from "./fixtures.js";

export type StoreFactory = () => Promise<{ store: Store; cleanup(): Promise<void> }>;

/**
 * The Store contract (src/store/types.ts) as tests: every implementation must pass
 * them unchanged. A store delivers its own changes to its own subscribers by the time
 * the changing call resolves.
 */
export function describeStoreConformance(name: string, makeStore: StoreFactory): void {
  describe(`Store conformance: ${name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    let events: StoreEvent[];

    beforeEach(async () => {
      ({ store, cleanup } = await makeStore());
      events = [];
      store.subscribe((event) => events.push(event));
    });
    afterEach(async () => {
      await cleanup();
    });

    const summary = () =>
      events.map((e) => `${e.type}:${e.registration.registrationId}${e.type === "removed" ? `:${e.cause}` : ""}`).sort();

    describe("runtimes", () => {
      it("puts, gets and lists runtimes", async () => {
        const a = runtimeRecord("rt-a");
        const b = runtimeRecord("rt-b", { boundSubject: "spiffe://example.org/b" });
        await store.putRuntime(a);
        await store.putRuntime(b);
        expect(await store.getRuntime("rt-a")).toEqual(a);
        expect(await store.getRuntime("rt-b")).toEqual(b);
        expect(await store.getRuntime("rt-missing")).toBeUndefined();
        const listed = await store.listRuntimes();
        expect(listed.map((r) => r.runtimeId).sort()).toEqual(["rt-a", "rt-b"]);
      });

      it("replaces a runtime put again", async () => {
        await store.putRuntime(runtimeRecord("rt-a"));
        const replaced = runtimeRecord("rt-a", { pluginVersion: "2.0.0", health: 3, healthMessage: "down" });
        await store.putRuntime(replaced);
        expect(await store.getRuntime("rt-a")).toEqual(replaced);
        expect(await store.listRuntimes()).toHaveLength(1);
      });

      it("never returns an expired runtime, and setRuntimeExpiry extends its life", async () => {
        await store.putRuntime(runtimeRecord("rt-old", { expiresAt: Date.now() - 1 }));
        await store.putRuntime(runtimeRecord("rt-live"));
        expect(await store.getRuntime("rt-old")).toBeUndefined();
        expect((await store.listRuntimes()).map((r) => r.runtimeId)).toEqual(["rt-live"]);

        const later = Date.now() + 120_000;
        await store.setRuntimeExpiry("rt-old", later);
        expect((await store.getRuntime("rt-old"))?.expiresAt).toBe(later);
        await store.setRuntimeExpiry("rt-missing", later);
        expect(await store.getRuntime("rt-missing")).toBeUndefined();
      });

      it("expires a runtime when its time passes", async () => {
        const expiry = shortExpiry();
        await store.putRuntime(runtimeRecord("rt-short", { expiresAt: expiry.at }));
        const seen = await store.getRuntime("rt-short");
        if (expiry.before()) expect(seen).toBeDefined();
        await expiry.passed();
        expect(await store.getRuntime("rt-short")).toBeUndefined();
        expect(await store.listRuntimes()).toEqual([]);
      });
    });

    describe("setHealth", () => {
      it("updates the runtime and emits `updated` for each of its registrations whose health changed", async () => {
        await store.putRuntime(runtimeRecord("rt-a"));
        await store.putRuntime(runtimeRecord("rt-b"));
        await store.putRegistration(registrationRecord("reg-1", "rt-a", { health: 1 }));
        await store.putRegistration(registrationRecord("reg-2", "rt-a", { health: 2 }));
        await store.putRegistration(registrationRecord("reg-3", "rt-b", { health: 1 }));
        events.length = 0;

        await store.setHealth("rt-a", 2, "slow disk", 1234);
        const runtime = await store.getRuntime("rt-a");
        expect(runtime).toMatchObject({ health: 2, healthMessage: "slow disk", healthReportedAt: 1234 });
        expect(events).toEqual([
          { type: "updated", registration: registrationRecord("reg-1", "rt-a", { health: 2 }) },
        ]);
        expect((await store.getRegistration("reg-1"))?.health).toBe(2);
        expect((await store.getRegistration("reg-3"))?.health).toBe(1);
        expect((await store.getRuntime("rt-b"))?.health).toBe(1);
      });

      it("ignores an unknown runtime", async () => {
        await store.setHealth("rt-missing", 3, "gone", 1);
        expect(events).toEqual([]);
        expect(await store.getRuntime("rt-missing")).toBeUndefined();
      });
    });

    describe("removeRuntime", () => {
      it("removes the runtime with its credentials and registrations, emitting `removed` with the cause", async () => {
        await store.putRuntime(runtimeRecord("rt-a"));
        await store.putRuntime(runtimeRecord("rt-b"));
        await store.putCredential(digestOf("token-a"), credentialRecord("tok-a", "rt-a"));
        await store.putCredential(
          digestOf("grant-a"),
          credentialRecord("grant-a", "rt-a", { kind: "grant", capability: "hostlog.v1.Log" }),
        );
        await store.putCredential(digestOf("token-b"), credentialRecord("tok-b", "rt-b"));
        await store.putRegistration(registrationRecord("reg-1", "rt-a"));
        await store.putRegistration(registrationRecord("reg-2", "rt-a", { serviceType: "other.v1.Svc" }));
        await store.putRegistration(registrationRecord("reg-3", "rt-b"));
        events.length = 0;

        expect(await store.removeRuntime("rt-a", "revoked")).toBe(true);
        expect(summary()).toEqual(["removed:reg-1:revoked", "removed:reg-2:revoked"]);
        const removed = events.find((e) => e.registration.registrationId === "reg-2");
        expect(removed?.registration).toEqual(registrationRecord("reg-2", "rt-a", { serviceType: "other.v1.Svc" }));

        expect(await store.getRuntime("rt-a")).toBeUndefined();
        expect(await store.getCredential(digestOf("token-a"))).toBeUndefined();
        expect(await store.getCredential(digestOf("grant-a"))).toBeUndefined();
        expect(await store.findCredentialById("grant-a")).toBeUndefined();
        expect(await store.getRegistration("reg-1")).toBeUndefined();
        expect((await store.listRegistrations()).map((r) => r.registrationId)).toEqual(["reg-3"]);
        expect(await store.listRegistrations("other.v1.Svc")).toEqual([]);

        // Other runtimes are untouched.
        expect(await store.getRuntime("rt-b")).toBeDefined();
        expect(await store.getCredential(digestOf("token-b"))).toBeDefined();

        events.length = 0;
        expect(await store.removeRuntime("rt-a", "revoked")).toBe(false);
        expect(events).toEqual([]);
      });
    });

    describe("credentials", () => {
      it("finds a credential by digest and by public id, and deletes it", async () => {
        await store.putRuntime(runtimeRecord("rt-a"));
        const grant = credentialRecord("grant-1", "rt-a", { kind: "grant", capability: "hostlog.v1.Log" });
        await store.putCredential(digestOf("g1"), grant);
        expect(await store.getCredential(digestOf("g1"))).toEqual(grant);
        expect(await store.findCredentialById("grant-1")).toEqual({ digest: digestOf("g1"), record: grant });
        expect(await store.getCredential(digestOf("nope"))).toBeUndefined();
        expect(await store.findCredentialById("nope")).toBeUndefined();

        await store.deleteCredential(digestOf("g1"));
        expect(await store.getCredential(digestOf("g1"))).toBeUndefined();
        expect(await store.findCredentialById("grant-1")).toBeUndefined();
        await store.deleteCredential(digestOf("g1")); // deleting twice is fine
      });

      it("keeps the id pointing at the newest digest when a credential is re-issued", async () => {
        await store.putRuntime(runtimeRecord("rt-a"));
        await store.putCredential(digestOf("v1"), credentialRecord("tok-1", "rt-a"));
        await store.putCredential(digestOf("v2"), credentialRecord("tok-1", "rt-a"));
        await store.deleteCredential(digestOf("v1"));
        expect((await store.findCredentialById("tok-1"))?.digest).toBe(digestOf("v2"));

        await store.putCredential(digestOf("v2"), credentialRecord("tok-2", "rt-a"));
        expect(await store.findCredentialById("tok-1")).toBeUndefined();
        expect((await store.findCredentialById("tok-2"))?.digest).toBe(digestOf("v2"));
      });

      it("never returns an expired credential", async () => {
        await store.putRuntime(runtimeRecord("rt-a"));
        await store.putCredential(digestOf("old"), credentialRecord("old", "rt-a", { expiresAt: Date.now() - 1 }));
        expect(await store.getCredential(digestOf("old"))).toBeUndefined();
        expect(await store.findCredentialById("old")).toBeUndefined();

        const expiry = shortExpiry();
        await store.putCredential(digestOf("short"), credentialRecord("short", "rt-a", { expiresAt: expiry.at }));
        const seen = await store.getCredential(digestOf("short"));
        if (expiry.before()) expect(seen).toBeDefined();
        await expiry.passed();
        expect(await store.getCredential(digestOf("short"))).toBeUndefined();
        expect(await store.findCredentialById("short")).toBeUndefined();
      });
    });

    describe("onRuntimeEnded", () => {
      it("hears every removed runtime with its cause (revoked and swept), and nothing after unsubscribing", async () => {
        const ended: string[] = [];
        const stop = store.onRuntimeEnded((runtimeId, cause) => ended.push(`${runtimeId}:${cause}`));
        await store.putRuntime(runtimeRecord("rt-a"));
        const expiry = shortExpiry(30);
        await store.putRuntime(runtimeRecord("rt-b", { expiresAt: expiry.at }));
        await store.putRegistration(registrationRecord("reg-1", "rt-a"));
        await store.removeRuntime("rt-a", "revoked");
        await store.removeRuntime("rt-missing", "revoked");
        await expiry.passed();
        await store.sweep(Date.now());
        await eventually(() => expect(ended.sort()).toEqual(["rt-a:revoked", "rt-b:expired"]));
        stop();
        await store.putRuntime(runtimeRecord("rt-c"));
        await store.removeRuntime("rt-c", "revoked");
        await sleep(100);
        expect(ended).toHaveLength(2);
        // Registration events are unchanged by it.
        expect(summary()).toEqual(["added:reg-1", "removed:reg-1:revoked"]);
      });
    });

    describe("rotateCredential (token refresh)", () => {
      it("20 concurrent refreshes of one token: exactly one succeeds, the rest Unauthenticated, one token live", async () => {
        await store.putRuntime(runtimeRecord("rt-a", { expiresAt: Date.now() + 30_000 }));
        const tokens = createTokenService({ store });
        const first = await tokens.issue("runtime", "rt-a", 30_000);
        const results = await Promise.allSettled(Array.from({ length: 20 }, () => tokens.refresh(first.id, "rt-a", 90_000)));
        const issued = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
        const codes = results.flatMap((r) => (r.status === "rejected" ? [ConnectError.from(r.reason).code] : []));
        expect(issued).toHaveLength(1);
        expect(codes).toEqual(Array(19).fill(Code.Unauthenticated));
        expect(await tokens.verify(first.token, "runtime")).toBeUndefined();
        expect((await tokens.verify(issued[0]!.token, "runtime"))?.runtimeId).toBe("rt-a");
        expect((await store.getRuntime("rt-a"))?.expiresAt).toBe(issued[0]!.expiresAt);
      });

      it("refuses a consumed, deleted, expired, unknown, grant or other runtime's credential, and a removed runtime", async () => {
        await store.putRuntime(runtimeRecord("rt-a"));
        await store.putRuntime(runtimeRecord("rt-b"));
        const next = (id: string, runtimeId = "rt-a") => credentialRecord(id, runtimeId, { expiresAt: Date.now() + 60_000 });
        await store.putCredential(digestOf("a1"), credentialRecord("a1", "rt-a"));
        expect(await store.rotateCredential("a1", digestOf("a2"), next("a2"), Date.now())).toBe(true);
        expect(await store.rotateCredential("a1", digestOf("a3"), next("a3"), Date.now())).toBe(false);
        expect(await store.getCredential(digestOf("a3"))).toBeUndefined();
        expect(await store.rotateCredential("a2", digestOf("b1"), next("b1", "rt-b"), Date.now())).toBe(false);
        expect(await store.rotateCredential("unknown", digestOf("a4"), next("a4"), Date.now())).toBe(false);
        await store.deleteCredential(digestOf("a2"));
        expect(await store.rotateCredential("a2", digestOf("a5"), next("a5"), Date.now())).toBe(false);

        await store.putCredential(digestOf("s1"), credentialRecord("s1", "rt-a", { expiresAt: Date.now() + 60_000 }));
        expect(await store.rotateCredential("s1", digestOf("s2"), next("s2"), Date.now() + 120_000)).toBe(false);

        await store.putCredential(digestOf("g1"), credentialRecord("g1", "rt-a", { kind: "grant" }));
        expect(await store.rotateCredential("g1", digestOf("g2"), next("g2"), Date.now())).toBe(false);

        await store.putCredential(digestOf("r1"), credentialRecord("r1", "rt-b"));
        await store.removeRuntime("rt-b", "revoked");
        await store.putCredential(digestOf("r1"), credentialRecord("r1", "rt-b"));
        expect(await store.rotateCredential("r1", digestOf("r2"), next("r2", "rt-b"), Date.now())).toBe(false);
        expect(await store.getCredential(digestOf("r2"))).toBeUndefined();
      });
    });

    describe("registrations", () => {
      it("emits added, updated and removed, and returns what it removed", async () => {
        await store.putRuntime(runtimeRecord("rt-a"));
        const first = registrationRecord("reg-1", "rt-a");
        await store.putRegistration(first);
        expect(events).toEqual([{ type: "added", registration: first }]);
        expect(await store.getRegistration("reg-1")).toEqual(first);

        const second = registrationRecord("reg-1", "rt-a", { weight: 5, metadata: { zone: "b" } });
        await store.putRegistration(second);
        expect(events[1]).toEqual({ type: "updated", registration: second });
        expect(await store.getRegistration("reg-1")).toEqual(second);

        expect(await store.removeRegistration("reg-1", "unregistered")).toEqual(second);
        expect(events[2]).toEqual({ type: "removed", registration: second, cause: "unregistered" });
        expect(await store.getRegistration("reg-1")).toBeUndefined();
        expect(await store.removeRegistration("reg-1", "unregistered")).toBeUndefined();
        expect(events).toHaveLength(3);
      });

      it("filters listRegistrations by service type, following a type change", async () => {
        await store.putRuntime(runtimeRecord("rt-a"));
        await store.putRegistration(registrationRecord("reg-1", "rt-a", { serviceType: "kv.v1.Store" }));
        await store.putRegistration(registrationRecord("reg-2", "rt-a", { serviceType: "kv.v1.Store" }));
        await store.putRegistration(registrationRecord("reg-3", "rt-a", { serviceType: "log.v1.Log" }));
        const ids = async (type?: string) => (await store.listRegistrations(type)).map((r) => r.registrationId).sort();
        expect(await ids("kv.v1.Store")).toEqual(["reg-1", "reg-2"]);
        expect(await ids("log.v1.Log")).toEqual(["reg-3"]);
        expect(await ids("none.v1.None")).toEqual([]);
        expect(await ids()).toEqual(["reg-1", "reg-2", "reg-3"]);

        await store.putRegistration(registrationRecord("reg-2", "rt-a", { serviceType: "log.v1.Log" }));
        expect(await ids("kv.v1.Store")).toEqual(["reg-1"]);
        expect(await ids("log.v1.Log")).toEqual(["reg-2", "reg-3"]);
      });

      it("pages one service type in registrationId order (code units) after a key, and by rank, following puts, type changes and removals", async () => {
        await store.putRuntime(runtimeRecord("rt-a"));
        // Put out of order, with ids whose code-unit order differs from a locale order.
        for (const id of ["rg_b", "rg_B", "rg_a", "rg_c", "rg_A", "rg__"]) await store.putRegistration(registrationRecord(id, "rt-a"));
        await store.putRegistration(registrationRecord("rg_0", "rt-a", { serviceType: "log.v1.Log" }));
        const page = async (after: string | undefined, limit: number) =>
          (await store.pageRegistrations("kv.v1.Store", after, limit)).map((r) => r.registrationId);
        expect(await page(undefined, 10)).toEqual(["rg_A", "rg_B", "rg__", "rg_a", "rg_b", "rg_c"]);
        expect(await page(undefined, 2)).toEqual(["rg_A", "rg_B"]);
        expect(await page("rg_B", 2)).toEqual(["rg__", "rg_a"]);
        // The key need not exist any more: the page starts after where it would be.
        expect(await page("rg_Z", 10)).toEqual(["rg__", "rg_a", "rg_b", "rg_c"]);
        expect(await page("rg_c", 10)).toEqual([]);
        expect((await store.registrationsAt("kv.v1.Store", 2, 2)).map((r) => r.registrationId)).toEqual(["rg__", "rg_a"]);
        expect(await store.registrationsAt("kv.v1.Store", 6, 2)).toEqual([]);
        expect(await store.pageRegistrations("none.v1.None", undefined, 5)).toEqual([]);

        await store.removeRegistration("rg_a", "unregistered");
        await store.putRegistration(registrationRecord("rg_b", "rt-a", { serviceType: "log.v1.Log" }));
        await store.putRegistration(registrationRecord("rg_aa", "rt-a"));
        expect(await page("rg__", 10)).toEqual(["rg_aa", "rg_c"]);
        expect((await store.pageRegistrations("log.v1.Log", undefined, 10)).map((r) => r.registrationId)).toEqual(["rg_0", "rg_b"]);
        expect((await store.pageRegistrations("kv.v1.Store", "rg_c", 1))).toEqual([]);
        await store.removeRuntime("rt-a", "revoked");
        expect(await page(undefined, 10)).toEqual([]);
        expect(await store.registrationsAt("log.v1.Log", 0, 10)).toEqual([]);
      });

      it("hands out copies: mutating a returned record does not change the store", async () => {
        await store.putRuntime(runtimeRecord("rt-a"));
        const input = registrationRecord("reg-1", "rt-a");
        await store.putRegistration(input);
        input.metadata["zone"] = "mutated-input";
        const got = (await store.getRegistration("reg-1"))!;
        got.metadata["zone"] = "mutated-output";
        events[0]!.registration.metadata["zone"] = "mutated-event";
        (await store.listRegistrations())[0]!.metadata["zone"] = "mutated-list";
        expect((await store.getRegistration("reg-1"))?.metadata).toEqual({ zone: "a" });

        const runtime = (await store.getRuntime("rt-a"))!;
        runtime.provides.push({ type: "x", version: "1" });
        expect((await store.getRuntime("rt-a"))?.provides).toHaveLength(1);
      });

      it("stops delivering to an unsubscribed listener", async () => {
        const mine: StoreEvent[] = [];
        const unsubscribe = store.subscribe((e) => mine.push(e));
        await store.putRuntime(runtimeRecord("rt-a"));
        await store.putRegistration(registrationRecord("reg-1", "rt-a"));
        unsubscribe();
        await store.putRegistration(registrationRecord("reg-2", "rt-a"));
        expect(mine.map((e) => e.registration.registrationId)).toEqual(["reg-1"]);
        expect(events).toHaveLength(2);
      });
    });

    describe("counts (admission limits)", () => {
      it("counts live runtimes in total and per plugin name", async () => {
        await store.putRuntime(runtimeRecord("rt-a", { pluginName: "kv" }));
        await store.putRuntime(runtimeRecord("rt-b", { pluginName: "kv" }));
        await store.putRuntime(runtimeRecord("rt-c", { pluginName: "log" }));
        await store.putRuntime(runtimeRecord("rt-old", { pluginName: "kv", expiresAt: Date.now() - 1 }));
        expect(await store.countRuntimes()).toBe(3);
        expect(await store.countRuntimes("kv")).toBe(2);
        expect(await store.countRuntimes("log")).toBe(1);
        expect(await store.countRuntimes("none")).toBe(0);

        await store.setRuntimeExpiry("rt-old", Date.now() + 60_000);
        expect(await store.countRuntimes("kv")).toBe(3);
        // A runtime put again under another name moves between the names.
        await store.putRuntime(runtimeRecord("rt-b", { pluginName: "log" }));
        expect(await store.countRuntimes("kv")).toBe(2);
        expect(await store.countRuntimes("log")).toBe(2);
        await store.removeRuntime("rt-a", "revoked");
        expect(await store.countRuntimes("kv")).toBe(1);
        expect(await store.countRuntimes()).toBe(3);
        await store.sweep(Date.now() + 120_000);
        expect(await store.countRuntimes()).toBe(0);
        expect(await store.countRuntimes("kv")).toBe(0);
      });

      it("counts registrations per runtime and per service type, following updates and removals", async () => {
        await store.putRuntime(runtimeRecord("rt-a"));
        await store.putRuntime(runtimeRecord("rt-b"));
        await store.putRegistration(registrationRecord("reg-1", "rt-a", { serviceType: "kv.v1.Store" }));
        await store.putRegistration(registrationRecord("reg-2", "rt-a", { serviceType: "kv.v1.Store" }));
        await store.putRegistration(registrationRecord("reg-3", "rt-b", { serviceType: "kv.v1.Store" }));
        await store.putRegistration(registrationRecord("reg-4", "rt-b", { serviceType: "log.v1.Log" }));
        await store.putRegistration(registrationRecord("reg-1", "rt-a", { serviceType: "kv.v1.Store", weight: 9 }));
        expect(await store.countRegistrations({ runtimeId: "rt-a" })).toBe(2);
        const ofA = (await store.listRuntimeRegistrations("rt-a")).sort((x, y) => x.registrationId.localeCompare(y.registrationId));
        expect(ofA.map((r) => [r.registrationId, r.weight])).toEqual([["reg-1", 9], ["reg-2", 1]]);
        expect(await store.listRuntimeRegistrations("rt-none")).toEqual([]);
        expect(await store.countRegistrations({ runtimeId: "rt-b" })).toBe(2);
        expect(await store.countRegistrations({ runtimeId: "rt-none" })).toBe(0);
        expect(await store.countRegistrations({ serviceType: "kv.v1.Store" })).toBe(3);
        expect(await store.countRegistrations({ serviceType: "log.v1.Log" })).toBe(1);

        await store.putRegistration(registrationRecord("reg-2", "rt-a", { serviceType: "log.v1.Log" }));
        expect(await store.countRegistrations({ serviceType: "kv.v1.Store" })).toBe(2);
        expect(await store.countRegistrations({ serviceType: "log.v1.Log" })).toBe(2);
        await store.removeRegistration("reg-1", "unregistered");
        expect(await store.countRegistrations({ runtimeId: "rt-a" })).toBe(1);
        await store.removeRuntime("rt-b", "revoked");
        expect(await store.countRegistrations({ runtimeId: "rt-b" })).toBe(0);
        expect(await store.countRegistrations({ serviceType: "kv.v1.Store" })).toBe(0);
        expect(await store.countRegistrations({ serviceType: "log.v1.Log" })).toBe(1);
      });
    });

    describe("registration leases", () => {
      it("sweepLeases removes the registrations of runtimes whose lease ran out, with cause `lease_expired`, once; the runtime stays", async () => {
        const now = Date.now();
        await store.putRuntime(runtimeRecord("rt-dead", { expiresAt: now + 600_000 }));
        await store.putRuntime(runtimeRecord("rt-live", { expiresAt: now + 600_000 }));
        await store.renewLease("rt-dead", now + 1_000);
        await store.renewLease("rt-live", now + 1_000);
        await store.putRegistration(registrationRecord("reg-dead", "rt-dead"));
        await store.putRegistration(registrationRecord("reg-live", "rt-live"));
        await store.renewLease("rt-live", now + 60_000); // the live one renewed
        events.length = 0;

        expect(await store.sweepLeases(now + 5_000)).toBe(1);
        expect(summary()).toEqual(["removed:reg-dead:lease_expired"]);
        expect(await store.getRegistration("reg-dead")).toBeUndefined();
        expect(await store.getRuntime("rt-dead")).toBeDefined();
        expect(await store.getRegistration("reg-live")).toBeDefined();
        expect(await store.sweepLeases(now + 5_000)).toBe(0);
        expect(events).toHaveLength(1);
      });

      it("a runtime without a lease, or one that does not exist, is never swept by lease", async () => {
        const now = Date.now();
        await store.putRuntime(runtimeRecord("rt-a", { expiresAt: now + 600_000 }));
        await store.putRegistration(registrationRecord("reg-a", "rt-a"));
        await store.renewLease("rt-missing", now - 1);
        expect(await store.sweepLeases(now + 5_000)).toBe(0);
        expect(await store.getRegistration("reg-a")).toBeDefined();
      });
    });

    describe("sweep", () => {
      it("ends expired runtimes with cause `expired`, once", async () => {
        const now = Date.now();
        await store.putRuntime(runtimeRecord("rt-soon", { expiresAt: now + 60_000 }));
        await store.putRuntime(runtimeRecord("rt-later", { expiresAt: now + 600_000 }));
        await store.putCredential(digestOf("soon"), credentialRecord("soon", "rt-soon"));
        await store.putRegistration(registrationRecord("reg-soon", "rt-soon"));
        await store.putRegistration(registrationRecord("reg-later", "rt-later"));
        events.length = 0;

        expect(await store.sweep(now + 120_000)).toBe(1);
        expect(summary()).toEqual(["removed:reg-soon:expired"]);
        expect(await store.getRuntime("rt-soon")).toBeUndefined();
        expect(await store.getCredential(digestOf("soon"))).toBeUndefined();
        expect(await store.getRegistration("reg-soon")).toBeUndefined();
        expect(await store.getRuntime("rt-later")).toBeDefined();
        expect(await store.getRegistration("reg-later")).toBeDefined();

        expect(await store.sweep(now + 120_000)).toBe(0);
        expect(events).toHaveLength(1);
      });

      it("ends credentials whose expiry passed by `now`", async () => {
        const now = Date.now();
        await store.putRuntime(runtimeRecord("rt-a", { expiresAt: now + 600_000 }));
        await store.putCredential(digestOf("soon"), credentialRecord("soon", "rt-a", { expiresAt: now + 60_000 }));
        await store.putCredential(digestOf("later"), credentialRecord("later", "rt-a", { expiresAt: now + 600_000 }));
        expect(await store.sweep(now + 120_000)).toBe(0); // no runtime ended
        expect(await store.getCredential(digestOf("soon"))).toBeUndefined();
        expect(await store.findCredentialById("soon")).toBeUndefined();
        expect(await store.getCredential(digestOf("later"))).toBeDefined();
      });

      it("spares a runtime whose expiry was extended", async () => {
        const now = Date.now();
        await store.putRuntime(runtimeRecord("rt-a", { expiresAt: now + 1_000 }));
        await store.setRuntimeExpiry("rt-a", now + 600_000);
        expect(await store.sweep(now + 2_000)).toBe(0);
        expect(await store.getRuntime("rt-a")).toBeDefined();
      });
    });

    describe("enrolments", () => {
      const enrolment = (id: string, overrides: Partial<EnrolmentRecord> = {}): EnrolmentRecord => ({
        id,
        pluginName: "kv",
        expiresAt: Date.now() + 60_000,
        usesLeft: 2,
        ...overrides,
      });

      it("hands out exactly the uses it was given, then forgets the record", async () => {
        await store.putEnrolment(digestOf("enr-a"), enrolment("en_a"));
        expect(await store.getEnrolment(digestOf("enr-a"))).toEqual(enrolment("en_a", { expiresAt: expect.any(Number) as never }));
        expect(await store.useEnrolment(digestOf("enr-a"))).toBe(true);
        expect((await store.getEnrolment(digestOf("enr-a")))?.usesLeft).toBe(1);
        expect(await store.useEnrolment(digestOf("enr-a"))).toBe(true);
        expect(await store.useEnrolment(digestOf("enr-a"))).toBe(false);
        expect(await store.getEnrolment(digestOf("enr-a"))).toBeUndefined();
        expect(await store.useEnrolment(digestOf("enr-unknown"))).toBe(false);
      });

      it("gives concurrent users no more uses than the record holds", async () => {
        await store.putEnrolment(digestOf("enr-c"), enrolment("en_c", { usesLeft: 3 }));
        const results = await Promise.all(Array.from({ length: 12 }, () => store.useEnrolment(digestOf("enr-c"))));
        expect(results.filter(Boolean)).toHaveLength(3);
      });

      it("never returns or uses an expired record", async () => {
        const expiry = shortExpiry(50);
        await store.putEnrolment(digestOf("enr-x"), enrolment("en_x", { expiresAt: expiry.at }));
        await expiry.passed();
        expect(await store.getEnrolment(digestOf("enr-x"))).toBeUndefined();
        expect(await store.useEnrolment(digestOf("enr-x"))).toBe(false);
      });

      it("revokes by public id, once", async () => {
        await store.putEnrolment(digestOf("enr-r"), enrolment("en_r"));
        expect(await store.revokeEnrolment("en_r")).toBe(true);
        expect(await store.revokeEnrolment("en_r")).toBe(false);
        expect(await store.useEnrolment(digestOf("enr-r"))).toBe(false);
        expect(await store.revokeEnrolment("en_unknown")).toBe(false);
      });
    });

    it("answers ping", async () => {
      expect(await store.ping()).toBe(true);
    });
  });
}
