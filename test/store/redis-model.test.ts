import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  createMemoryStore,
  type RegistrationRecord,
  type RuntimeRecord,
  type Store,
  type StoreEvent,
} from "../../src/store/index.js";
import { createRedisStore } from "../../src/redis.js";
import { findRedisServer, useRedisServer } from "../helpers/redis.js";
import { credentialRecord, digestOf, registrationRecord, runtimeRecord } from "./fixtures.js";

const hasRedis = findRedisServer() !== undefined;

// Expiry times sit an hour ahead so wall-clock time passing during the run changes nothing;
// sweep is driven by its `now` argument instead.
const base = Date.now() + 3_600_000;
const runtimeId = fc.constantFrom("r1", "r2", "r3");
const at = fc.integer({ min: 1, max: 5 }).map((k) => base + k * 1_000);

type Op = (store: Store) => Promise<unknown>;
type Step = [name: string, op: Op];
const step = (name: string, op: Op): Step => [name, op];
const byId = <T>(key: (t: T) => string) => (list: T[]) => list.sort((a, b) => key(a).localeCompare(key(b)));
const health = fc.constantFrom(1, 2, 3) as fc.Arbitrary<1 | 2 | 3>;
const digest = fc.constantFrom("d1", "d2", "d3");
const credentialId = fc.constantFrom("c1", "c2");
const registrationId = fc.constantFrom("g1", "g2", "g3");
const serviceType = fc.constantFrom("t1", "t2");

const op: fc.Arbitrary<Step> = fc.oneof(
  fc.tuple(runtimeId, at).map(([id, expiresAt]) =>
    step(`putRuntime ${id}`, (s) => s.putRuntime(runtimeRecord(id, { expiresAt, startedAt: 1, healthReportedAt: 1 }))),
  ),
  runtimeId.map((id) => step(`getRuntime ${id}`, (s) => s.getRuntime(id))),
  fc.constant(step("listRuntimes", async (s) => byId((r: RuntimeRecord) => r.runtimeId)(await s.listRuntimes()))),
  fc.tuple(runtimeId, health).map(([id, h]) => step(`setHealth ${id} ${h}`, (s) => s.setHealth(id, h, `h${h}`, 7))),
  fc.tuple(runtimeId, at).map(([id, t]) => step(`setRuntimeExpiry ${id}`, (s) => s.setRuntimeExpiry(id, t))),
  fc
    .tuple(runtimeId, fc.constantFrom("revoked", "unregistered") as fc.Arbitrary<"revoked" | "unregistered">)
    .map(([id, cause]) => step(`removeRuntime ${id} ${cause}`, (s) => s.removeRuntime(id, cause))),
  fc.tuple(digest, credentialId, runtimeId, at).map(([d, id, rt, expiresAt]) =>
    step(`putCredential ${d} ${id} ${rt}`, (s) => s.putCredential(digestOf(d), credentialRecord(id, rt, { expiresAt }))),
  ),
  digest.map((d) => step(`getCredential ${d}`, (s) => s.getCredential(digestOf(d)))),
  credentialId.map((id) => step(`findCredentialById ${id}`, (s) => s.findCredentialById(id))),
  digest.map((d) => step(`deleteCredential ${d}`, (s) => s.deleteCredential(digestOf(d)))),
  fc.tuple(registrationId, runtimeId, serviceType, health).map(([g, rt, type, h]) =>
    step(`putRegistration ${g} ${rt} ${type} ${h}`, (s) =>
      s.putRegistration(registrationRecord(g, rt, { serviceType: type, health: h })),
    ),
  ),
  registrationId.map((g) => step(`getRegistration ${g}`, (s) => s.getRegistration(g))),
  registrationId.map((g) => step(`removeRegistration ${g}`, (s) => s.removeRegistration(g, "unregistered"))),
  fc.constantFrom(undefined, "t1", "t2").map((type) =>
    step(`listRegistrations ${type}`, async (s) =>
      byId((r: RegistrationRecord) => r.registrationId)(await s.listRegistrations(type)),
    ),
  ),
  fc.integer({ min: 1, max: 6 }).map((k) => step(`sweep ${k}`, (s) => s.sweep(base + k * 1_000))),
);

const eventKey = (e: StoreEvent) => JSON.stringify(e);

/** Random operation sequences give the same answers and events on both stores. */
describe.skipIf(!hasRedis)("redis store matches the memory store", () => {
  const redisServer = useRedisServer();
  let n = 0;

  it("on random operation sequences", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 15, maxLength: 40 }), async (ops) => {
        const memory = createMemoryStore();
        const redis = await createRedisStore({ url: redisServer().url, keyPrefix: `model${++n}:` });
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
      { numRuns: Number(process.env["STORE_MODEL_RUNS"] ?? 60), ...(process.env["STORE_MODEL_SEED"] ? { seed: Number(process.env["STORE_MODEL_SEED"]), path: process.env["STORE_MODEL_PATH"], endOnFailure: true } : {}) },
    );
  });
});
