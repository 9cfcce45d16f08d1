/**
 * The Redis store's change feed, as read caches see it: healthy while its reader is connected and
 * caught up; broken when the reader's connection drops or it falls a full batch behind; never
 * broken by ordinary entries (runtime ends, credential ends, runtime updates).
 */
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore, type RedisStore } from "../../src/redis.js";
import type { FeedChange } from "../../src/store/store-feed.js";
import { createKeyLayout } from "../../src/store/redis-keys.js";
import { findRedisServer, startRedis, type RedisServerHandle } from "../helpers/redis.js";
import { credentialRecord, digestOf, eventually, runtimeRecord } from "./fixtures.js";

describe.skipIf(findRedisServer() === undefined)("redis store change feed", () => {
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
    admin?.disconnect();
    await server?.stop();
  });

  async function twoHosts() {
    const keyPrefix = `feed${++n}:`;
    const a = await createRedisStore({ url: server.url, keyPrefix, hostId: "a" });
    const b = await createRedisStore({ url: server.url, keyPrefix, hostId: "b" });
    open.push(a, b);
    const changes: FeedChange[] = [];
    b.feed.onChange((c) => changes.push(c));
    return { a, b, changes, keyPrefix };
  }

  it("tells other hosts of ended credentials and updated runtimes, and ends no read for them", async () => {
    const { a, b, changes } = await twoHosts();
    expect(b.feed.healthy()).toBe(true);
    await a.putRuntime(runtimeRecord("rt-1"));
    await a.putCredential(digestOf("t1"), credentialRecord("tk-1", "rt-1"));
    await a.putCredential(digestOf("t2"), credentialRecord("tk-2", "rt-1"));
    await a.deleteCredential(digestOf("t1"));
    await a.rotateCredential("tk-2", digestOf("t3"), credentialRecord("tk-3", "rt-1"), Date.now());
    await a.setHealth("rt-1", 2, "slow", Date.now());
    await a.removeRuntime("rt-1", "revoked");
    // Credentials live in their digests' buckets, each with its stream: no order between them. The revoked
    // runtime's own token (t3) is announced too (its runtime's end also is, through onRuntimeEnded).
    const key = (c: FeedChange) => JSON.stringify(c);
    await eventually(() =>
      expect(changes.map(key).sort()).toEqual(
        [
          { kind: "credential", digest: digestOf("t1") },
          { kind: "credential", digest: digestOf("t2") },
          { kind: "credential", digest: digestOf("t3") },
          { kind: "runtime", runtimeId: "rt-1" },
        ].map((c) => key(c as FeedChange)).sort(),
      ),
    );
    expect(b.feed.healthy()).toBe(true); // no "broken": a runtime-ended entry is not a read failure
  });

  it("breaks when the reader's connection drops, and is healthy again once it reads", async () => {
    const { b, changes } = await twoHosts();
    const list = (await admin.client("LIST")) as string;
    const ids = list
      .split("\n")
      .filter((line) => line.includes("name=plugboard-events"))
      .map((line) => /id=(\d+)/.exec(line)![1]!);
    for (const id of ids) await admin.client("KILL", "ID", id);
    await eventually(() => expect(changes.some((c) => c.kind === "broken")).toBe(true));
    await eventually(() => expect(b.feed.healthy()).toBe(true), 10_000);
  });

  it("breaks while the reader is a full batch behind (or the stream was trimmed past it)", async () => {
    const { b, changes, keyPrefix } = await twoHosts();
    const stream = createKeyLayout(keyPrefix).streams[0]!; // one bucket's stream
    const burst = admin.multi();
    for (let i = 0; i < 250; i++) burst.xadd(stream, "*", "o", "test", "t", "noop", "c", "", "r", "", "h", "");
    await burst.exec();
    await eventually(() => expect(changes).toContainEqual({ kind: "broken", reason: "event feed lagging" }));
    await eventually(() => expect(b.feed.healthy()).toBe(true));
  });
});
