import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { StoreEvent } from "../../src/store/index.js";
import { createRedisStore, type RedisStore } from "../../src/redis.js";
import { createKeyLayout } from "../../src/store/redis-keys.js";
import { findRedisServer, startRedis, type RedisServerHandle } from "../helpers/redis.js";
import { credentialRecord, digestOf, eventually, registrationRecord, runtimeRecord, sleep } from "./fixtures.js";

const hasRedis = findRedisServer() !== undefined;

/** Two stores on one Redis: two hosts behind a load balancer. */
describe.skipIf(!hasRedis)("redis store across hosts", () => {
  let server: RedisServerHandle;
  let admin: Redis;
  let n = 0;
  const open: RedisStore[] = [];

  beforeAll(async () => {
    server = await startRedis();
    admin = new Redis(server.url);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await admin?.quit();
    await server?.stop();
  });

  async function hosts(options: { expiredGraceMs?: number } = {}) {
    const keyPrefix = `hosts${++n}:`;
    const a = await createRedisStore({ url: server.url, keyPrefix, hostId: "host-a", ...options });
    const b = await createRedisStore({ url: server.url, keyPrefix, hostId: "host-b", ...options });
    open.push(a, b);
    const seenA: StoreEvent[] = [];
    const seenB: StoreEvent[] = [];
    a.subscribe((e) => seenA.push(e));
    b.subscribe((e) => seenB.push(e));
    return { a, b, seenA, seenB, keyPrefix };
  }
  const summary = (events: StoreEvent[]) =>
    events.map((e) => `${e.type}:${e.registration.registrationId}${e.type === "removed" ? `:${e.cause}` : ""}`);

  it("delivers a registration made on A exactly once on A and once on B", async () => {
    const { a, seenA, seenB } = await hosts();
    await a.putRuntime(runtimeRecord("rt-1"));
    const registration = registrationRecord("reg-1", "rt-1");
    await a.putRegistration(registration);
    expect(seenA).toEqual([{ type: "added", registration }]); // local: by the time the call resolves
    await eventually(() => expect(seenB).toEqual([{ type: "added", registration }]));
    await sleep(200); // and no duplicate arrives later on either host
    expect(seenA).toHaveLength(1);
    expect(seenB).toHaveLength(1);
  });

  it("tells every host what a cache must drop: a credential ended (digest, runtime), a runtime ended, per-runtime order kept", async () => {
    const { a, b, seenB } = await hosts();
    const endedCredentials: string[] = [];
    const endedRuntimes: string[] = [];
    b.onCredentialEnded((digest, runtimeId) => endedCredentials.push(`${digest.slice(0, 6)}:${runtimeId}`));
    b.onRuntimeEnded((runtimeId, cause) => endedRuntimes.push(`${runtimeId}:${cause}`));
    await a.putRuntime(runtimeRecord("rt-1"));
    await a.putCredential(digestOf("grant"), credentialRecord("gr-1", "rt-1", { kind: "grant" }));
    await a.putCredential(digestOf("old"), credentialRecord("tk-1", "rt-1"));
    await a.deleteCredential(digestOf("grant")); // a grant revoked
    expect(await a.rotateCredential("tk-1", digestOf("new"), credentialRecord("tk-2", "rt-1"), Date.now())).toBe(true); // the old token consumed
    // Different digests, different buckets' streams: no order between them.
    await eventually(() =>
      expect([...endedCredentials].sort()).toEqual([`${digestOf("grant").slice(0, 6)}:rt-1`, `${digestOf("old").slice(0, 6)}:rt-1`].sort()),
    );
    // A runtime's registrations change in the order they happened, wherever their service's index is.
    for (let i = 0; i < 5; i++) await a.putRegistration(registrationRecord("reg-1", "rt-1", { serviceType: `s${i}.v1.S` }));
    await a.removeRuntime("rt-1", "revoked");
    await eventually(() => expect(endedRuntimes).toEqual(["rt-1:revoked"]));
    await eventually(() => expect(summary(seenB)).toEqual(["added:reg-1", "updated:reg-1", "updated:reg-1", "updated:reg-1", "updated:reg-1", "removed:reg-1:revoked"]));
    expect(seenB.map((e) => e.registration.serviceType)).toEqual(["s0.v1.S", "s1.v1.S", "s2.v1.S", "s3.v1.S", "s4.v1.S", "s4.v1.S"]);
    expect(await b.listRegistrations("s4.v1.S")).toEqual([]);
    expect(await b.getCredential(digestOf("new"))).toBeUndefined();
  });

  it("delivers a removal on B to A with its cause, and health updates across hosts", async () => {
    const { a, b, seenA, seenB } = await hosts();
    await a.putRuntime(runtimeRecord("rt-1"));
    await a.putRegistration(registrationRecord("reg-1", "rt-1"));
    await eventually(() => expect(summary(seenB)).toEqual(["added:reg-1"]));

    await a.setHealth("rt-1", 3, "down", 1);
    await eventually(() => expect(summary(seenB)).toEqual(["added:reg-1", "updated:reg-1"]));
    expect(seenB[1]!.registration.health).toBe(3);

    expect(await b.removeRegistration("reg-1", "unregistered")).toBeDefined();
    expect(summary(seenB)).toEqual(["added:reg-1", "updated:reg-1", "removed:reg-1:unregistered"]);
    await eventually(() =>
      expect(summary(seenA)).toEqual(["added:reg-1", "updated:reg-1", "removed:reg-1:unregistered"]),
    );
    expect(await a.getRegistration("reg-1")).toBeUndefined();
  });

  it("keeps stream order for many changes from several hosts", async () => {
    const { a, b, seenA, seenB } = await hosts();
    await a.putRuntime(runtimeRecord("rt-1"));
    for (let i = 0; i < 20; i++) {
      await (i % 2 ? a : b).putRegistration(registrationRecord(`reg-${i}`, "rt-1"));
    }
    const expected = Array.from({ length: 20 }, (_, i) => `added:reg-${i}`);
    await eventually(() => expect(summary(seenA)).toEqual(expected));
    await eventually(() => expect(summary(seenB)).toEqual(expected));
  });

  it("gives every host's listeners one order, its own changes included", async () => {
    const { a, b, seenA, seenB } = await hosts();
    await a.putRuntime(runtimeRecord("rt-1"));
    for (let i = 0; i < 10; i++) {
      await b.putRegistration(registrationRecord(`reg-${i}`, "rt-1"));
      await a.putRegistration(registrationRecord(`reg-${i}`, "rt-1", { weight: 2 }));
    }
    const expected = Array.from({ length: 10 }, (_, i) => [`added:reg-${i}`, `updated:reg-${i}`]).flat();
    expect(summary(seenA)).toEqual(expected); // A's own updates never overtake B's adds
    await eventually(() => expect(summary(seenB)).toEqual(expected));
    expect(seenA.at(-1)?.registration.weight).toBe(2);
  });

  it("shares credentials: put on A is readable on B, deleted on B is gone on A", async () => {
    const { a, b } = await hosts();
    await a.putRuntime(runtimeRecord("rt-1"));
    const grant = credentialRecord("grant-1", "rt-1", { kind: "grant", capability: "hostlog.v1.Log" });
    await a.putCredential(digestOf("g"), grant);
    expect(await b.getCredential(digestOf("g"))).toEqual(grant);
    expect(await b.findCredentialById("grant-1")).toEqual({ digest: digestOf("g"), record: grant });
    await b.deleteCredential(digestOf("g"));
    expect(await a.getCredential(digestOf("g"))).toBeUndefined();
    expect(await a.findCredentialById("grant-1")).toBeUndefined();
  });

  it("ends an expired runtime once when both hosts sweep at the same time", async () => {
    const { a, b, seenA, seenB } = await hosts();
    const now = Date.now();
    await a.putRuntime(runtimeRecord("rt-1", { expiresAt: now + 1_000 }));
    await a.putRegistration(registrationRecord("reg-1", "rt-1"));
    await a.putRegistration(registrationRecord("reg-2", "rt-1"));
    await eventually(() => expect(seenB).toHaveLength(2));

    const ended = await Promise.all([a.sweep(now + 5_000), b.sweep(now + 5_000), a.sweep(now + 5_000)]);
    expect(ended.reduce((x, y) => x + y, 0)).toBe(1);
    const removed = ["removed:reg-1:expired", "removed:reg-2:expired"];
    await eventually(() => expect(summary(seenA).slice(2).sort()).toEqual(removed));
    await eventually(() => expect(summary(seenB).slice(2).sort()).toEqual(removed));
    await sleep(200);
    expect(seenA).toHaveLength(4);
    expect(seenB).toHaveLength(4);
  });

  it("lets Redis drop a dead runtime's keys by itself when no host sweeps (expiresAt + grace)", async () => {
    const { a, b, keyPrefix } = await hosts({ expiredGraceMs: 100 });
    const keys = createKeyLayout(keyPrefix).runtime("rt-1"); // keys carry a bucket's Cluster hash tag
    await a.putRuntime(runtimeRecord("rt-1", { expiresAt: Date.now() + 100 }));
    await a.putRegistration(registrationRecord("reg-1", "rt-1"));
    await a.putCredential(digestOf("t"), credentialRecord("tok", "rt-1", { expiresAt: Date.now() + 100 }));
    const ttl = await admin.pttl(keys.regs);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(200);

    // A token refresh extends the registration with the runtime.
    const refreshedUntil = Date.now() + 700;
    await a.setRuntimeExpiry("rt-1", refreshedUntil);
    expect(await admin.pttl(keys.regs)).toBeGreaterThan(250);

    await sleep(Math.max(0, refreshedUntil + 100 - Date.now()) + 100); // past expiresAt + grace
    expect(await b.listRegistrations()).toEqual([]);
    expect(await b.listRegistrations("kv.v1.Store")).toEqual([]);
    expect(await admin.exists(keys.rt, keys.regs, keys.regx)).toBe(0);
    expect(await admin.smembers(keys.regRts)).toEqual([]); // lazily tidied index
    expect(await admin.hlen(createKeyLayout(keyPrefix).service("kv.v1.Store"))).toBe(0); // lazily tidied index
  });

  it("resumes the event stream after a dropped connection without loss or duplicates", async () => {
    const { a, seenB } = await hosts();
    await a.putRuntime(runtimeRecord("rt-1"));
    // Drop only the stream readers' connections; A writes at once, before they are back.
    const clients = String(await admin.client("LIST")).split("\n");
    const readerIds = clients.filter((line) => line.includes("name=plugboard-events")).map((l) => /id=(\d+)/.exec(l)![1]!);
    expect(readerIds.length).toBeGreaterThanOrEqual(2);
    for (const id of readerIds) await admin.client("KILL", "ID", id);
    for (let i = 0; i < 5; i++) await a.putRegistration(registrationRecord(`reg-${i}`, "rt-1"));

    const expected = Array.from({ length: 5 }, (_, i) => `added:reg-${i}`);
    await eventually(() => expect(summary(seenB)).toEqual(expected));
    await sleep(200);
    expect(summary(seenB)).toEqual(expected);
  });

  it("uses a caller's ioredis client and leaves it open on close", async () => {
    const client = new Redis(server.url, { lazyConnect: true }); // the store connects it
    try {
      const store = await createRedisStore({ client, keyPrefix: `client${++n}:` });
      await store.putRuntime(runtimeRecord("rt-1"));
      expect((await store.getRuntime("rt-1"))?.runtimeId).toBe("rt-1");
      await store.close();
      expect(await client.ping()).toBe("PONG");
    } finally {
      await client.quit();
    }
  });

  it("validates its options and fails start-up when Redis is not there", async () => {
    await expect(createRedisStore({})).rejects.toThrow(TypeError);
    await expect(createRedisStore({ url: server.url, keyPrefix: "" })).rejects.toThrow(TypeError);
    await expect(createRedisStore({ url: server.url, expiredGraceMs: -1 })).rejects.toThrow(TypeError);
    const prefixed = new Redis(server.url, { keyPrefix: "x:", lazyConnect: true });
    await expect(createRedisStore({ client: prefixed })).rejects.toThrow(/keyPrefix/);
    prefixed.disconnect();
    // Port 9 (discard) is closed on loopback.
    await expect(createRedisStore({ url: "redis://127.0.0.1:9", connectTimeoutMs: 300 })).rejects.toThrow(
      /not connected/,
    );
  });
});

describe.skipIf(!hasRedis)("redis store across a Redis restart", () => {
  let server: RedisServerHandle;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("fails operations with an Error during the outage, then works and delivers events again", async () => {
    const a = await createRedisStore({ url: server.url, hostId: "host-a" });
    const b = await createRedisStore({ url: server.url, hostId: "host-b" });
    try {
      const seenB: StoreEvent[] = [];
      b.subscribe((e) => seenB.push(e));
      let resets = 0;
      a.onReset(() => resets++);
      await a.putRuntime(runtimeRecord("rt-1"));
      await a.putRegistration(registrationRecord("reg-1", "rt-1"));
      await eventually(() => expect(seenB).toHaveLength(1));

      await server.kill();
      await waitFor(async () => !(await a.ping()));
      // Fails instead of queueing until Redis is back (which would outlive these generous bounds).
      await expect(settlesWithin(a.putRegistration(registrationRecord("reg-2", "rt-1")))).rejects.toBeInstanceOf(Error);
      await expect(settlesWithin(b.getRuntime("rt-1"))).rejects.toBeInstanceOf(Error);
      await expect(settlesWithin(b.listRegistrations())).rejects.toBeInstanceOf(Error);
      await expect(settlesWithin(a.sweep(Date.now()))).rejects.toBeInstanceOf(Error);

      await server.start(); // an empty Redis on the same port
      await waitFor(async () => (await a.ping()) && (await b.ping()));
      await waitFor(async () => resets === 1);

      expect(await a.listRegistrations()).toEqual([]); // the data is gone; nothing crashes
      expect(await b.getRuntime("rt-1")).toBeUndefined();
      // Live plugins register again (the host reacts to onReset / ping false → true).
      await a.putRuntime(runtimeRecord("rt-1"));
      await a.putRegistration(registrationRecord("reg-1", "rt-1"));
      await eventually(() => expect(seenB.map((e) => e.type)).toEqual(["added", "added"]), 5_000);
      await b.removeRegistration("reg-1", "unregistered");
      expect(await a.getRegistration("reg-1")).toBeUndefined();
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe.skipIf(!hasRedis)("redis store closing while Redis is down", () => {
  it("closes promptly", async () => {
    const server = await startRedis();
    try {
      const store = await createRedisStore({ url: server.url });
      await server.kill();
      await waitFor(async () => !(await store.ping()));
      await settlesWithin(store.close()); // does not wait for a Redis that is not coming back
    } finally {
      await server.stop();
    }
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 8_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition().catch(() => false))) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(50);
  }
}

/**
 * `promise`, or a rejection with a plain string (deliberately not an Error, so `rejects.toBeInstanceOf(Error)`
 * cannot mistake it for the store's own failure) when it has not settled within a generous bound.
 */
function settlesWithin<T>(promise: Promise<T>, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(`did not settle within ${ms} ms`), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
