import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryStore, createRedisStore, type Store, type StoreEvent } from "../../src/store/index.js";
import { findRedisServer, startRedis, type RedisServerHandle } from "../helpers/redis.js";
import { credentialRecord, digestOf, registrationRecord, runtimeRecord } from "./fixtures.js";

const hasRedis = findRedisServer() !== undefined;

// Expiry times sit an hour ahead so wall-clock time passing during the run changes nothing;
// sweep is driven by its `now` argument instead.
const base = Date.now() + 3_600_000;
const runtimeId = fc.constantFrom("r1", "r2", "r3");
const at = fc.integer({ min: 1, max: 5 }).map((k) => base + k * 1_000);

type Op = (store: Store) => Promise<unknown>;
const op: fc.Arbitrary<[string, Op]> = fc.oneof(
  fc.tuple(runtimeId, at).map(([id, expiresAt]) => [`putRuntime ${id}`, (s: Store) => s.putRuntime(runtimeRecord(id, { expiresAt, startedAt: 1, healthReportedAt: 1 }))] as [string, Op]),
  runtimeId.map((id) => [`getRuntime ${id}`, (s: Store) => s.getRuntime(id)] as [string, Op]),
  fc.constant(["listRuntimes", async (s: Store) => (await s.listRuntimes()).sort((a, b) => a.runtimeId.localeCompare(b.runtimeId))] as [string, Op]),
  fc.tuple(runtimeId, fc.constantFrom(1, 2, 3) as fc.Arbitrary<1 | 2 | 3>).map(([id, h]) => [`setHealth ${id} ${h}`, (s: Store) => s.setHealth(id, h, `h${h}`, 7)] as [string, Op]),
  fc.tuple(runtimeId, at).map(([id, t]) => [`setRuntimeExpiry ${id}`, (s: Store) => s.setRuntimeExpiry(id, t)] as [string, Op]),
  fc.tuple(runtimeId, fc.constantFrom("revoked", "unregistered") as fc.Arbitrary<"revoked" | "unregistered">).map(([id, cause]) => [`removeRuntime ${id}`, (s: Store) => s.removeRuntime(id, cause)] as [string, Op]),
  fc.tuple(fc.constantFrom("d1", "d2", "d3"), fc.constantFrom("c1", "c2"), runtimeId, at).map(([d, id, rt, expiresAt]) => [`putCredential ${d} ${id} ${rt}`, (s: Store) => s.putCredential(digestOf(d), credentialRecord(id, rt, { expiresAt }))] as [string, Op]),
  fc.constantFrom("d1", "d2", "d3").map((d) => [`getCredential ${d}`, (s: Store) => s.getCredential(digestOf(d))] as [string, Op]),
  fc.constantFrom("c1", "c2").map((id) => [`findCredentialById ${id}`, (s: Store) => s.findCredentialById(id)] as [string, Op]),
  fc.constantFrom("d1", "d2", "d3").map((d) => [`deleteCredential ${d}`, (s: Store) => s.deleteCredential(digestOf(d))] as [string, Op]),
  fc.tuple(fc.constantFrom("g1", "g2", "g3"), runtimeId, fc.constantFrom("t1", "t2"), fc.constantFrom(1, 2) as fc.Arbitrary<1 | 2>).map(([g, rt, type, health]) => [`putRegistration ${g} ${rt} ${type} ${health}`, (s: Store) => s.putRegistration(registrationRecord(g, rt, { serviceType: type, health }))] as [string, Op]),
  fc.constantFrom("g1", "g2", "g3").map((g) => [`getRegistration ${g}`, (s: Store) => s.getRegistration(g)] as [string, Op]),
  fc.constantFrom("g1", "g2", "g3").map((g) => [`removeRegistration ${g}`, (s: Store) => s.removeRegistration(g, "unregistered")] as [string, Op]),
  fc.constantFrom(undefined, "t1", "t2").map((type) => [`listRegistrations ${type}`, async (s: Store) => (await s.listRegistrations(type)).sort((a, b) => a.registrationId.localeCompare(b.registrationId))] as [string, Op]),
  fc.integer({ min: 1, max: 6 }).map((k) => [`sweep ${k}`, (s: Store) => s.sweep(base + k * 1_000)] as [string, Op]),
);

const eventKey = (e: StoreEvent) => JSON.stringify(e);

/** Random operation sequences give the same answers and events on both stores. */
describe.skipIf(!hasRedis)("redis store matches the memory store", () => {
  let server: RedisServerHandle;
  let n = 0;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("on random operation sequences", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 15, maxLength: 40 }), async (ops) => {
        const memory = createMemoryStore();
        const redis = await createRedisStore({ url: server.url, keyPrefix: `model${++n}:` });
        const seen = { memory: [] as StoreEvent[], redis: [] as StoreEvent[] };
        memory.subscribe((e) => seen.memory.push(e));
        redis.subscribe((e) => seen.redis.push(e));
        try {
          for (const [name, run] of ops) {
            seen.memory.length = 0;
            seen.redis.length = 0;
            const expected = await run(memory);
            const actual = await run(redis);
            expect(actual, name).toEqual(expected);
            // Within one cascade the order may differ; the set of events may not.
            expect(seen.redis.map(eventKey).sort(), name).toEqual(seen.memory.map(eventKey).sort());
          }
        } finally {
          await redis.close();
          await memory.close();
        }
      }),
      { numRuns: Number(process.env["STORE_MODEL_RUNS"] ?? 60) },
    );
  });
});
