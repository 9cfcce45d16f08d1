import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUpstreamPool } from "../../../src/router/upstream-pool.js";

/* The router's provider connections: endpoint parsing (cached), one pooled session per origin, discard, close. */

function refusal(f: () => unknown): ConnectError {
  try {
    f();
  } catch (e) {
    if (e instanceof ConnectError) return e;
    throw e;
  }
  throw new Error("not refused");
}

describe("upstream pool: endpoints", () => {
  it("parses origin, authority, scheme and the path prefix without trailing slashes", () => {
    const pool = createUpstreamPool();
    expect(pool.target("http://127.0.0.1:8080/api/v1//")).toEqual({ origin: "http://127.0.0.1:8080", authority: "127.0.0.1:8080", scheme: "http", pathPrefix: "/api/v1" });
    expect(pool.target("https://provider.example:9443")).toEqual({
      origin: "https://provider.example:9443",
      authority: "provider.example:9443",
      scheme: "https",
      pathPrefix: "",
    });
  });

  it.each([
    ["not a url", "not a valid URL"],
    ["ftp://h/", "must be http:// or https://"],
    ["unix:/tmp/s", "must be http:// or https://"],
    ["http://h/?a=1", "must not have query"],
    ["http://h/#f", "must not have query"],
    ["http://user@h/", "must not have query"],
    ["http://:pw@h/", "must not have query"],
  ])("%s is refused (Internal: %s)", (endpoint, message) => {
    const err = refusal(() => createUpstreamPool().target(endpoint));
    expect(err.code).toBe(Code.Internal);
    expect(err.rawMessage).toContain(message);
  });

  it("keeps parsed endpoints, and starts afresh when maxCachedEndpoints are kept", () => {
    const pool = createUpstreamPool({ maxCachedEndpoints: 2 });
    const a = pool.target("http://a:1");
    expect(pool.target("http://a:1")).toBe(a);
    pool.target("http://b:1");
    expect(pool.target("http://a:1")).toBe(a);
    pool.target("http://c:1");
    expect(pool.target("http://a:1") === a).toBe(false);
    const big = createUpstreamPool();
    const first = big.target("http://x:1");
    for (let i = 0; i < 1000; i++) big.target(`http://h${i}:1`);
    expect(big.target("http://x:1")).toBe(first);
  });
});

describe("upstream pool: sessions", () => {
  let server: http2.Http2Server;
  let url: string;
  const serverSessions: http2.ServerHttp2Session[] = [];
  beforeAll(async () => {
    server = http2.createServer();
    server.on("session", (s) => serverSessions.push(s));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (const s of serverSessions) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const connected = (s: http2.ClientHttp2Session) =>
    s.connecting ? new Promise<void>((resolve, reject) => (s.once("connect", () => resolve()), s.once("error", reject))) : Promise.resolve();

  it("one session per origin, with large flow-control windows; discard drops it; close ends them all and refuses more", async () => {
    const pool = createUpstreamPool();
    const target = pool.target(url);
    const s = pool.session(target);
    expect(pool.session(pool.target(`${url}/other-prefix`)) === s).toBe(true);
    await connected(s);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(s.state.effectiveLocalWindowSize).toBe(16 * 1024 * 1024);
    pool.discard(target);
    pool.discard(target);
    expect(s.closed).toBe(true);
    const s2 = pool.session(target);
    expect(s2 === s).toBe(false);
    await connected(s2);
    await pool.close();
    expect(s2.closed).toBe(true);
    const err = refusal(() => pool.session(target));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toBe("router is closed");
  });

  it("a session the provider ended (GOAWAY, close) is replaced on the next call", async () => {
    const pool = createUpstreamPool();
    const target = pool.target(url);
    const s = pool.session(target);
    await connected(s);
    const goaway = new Promise<void>((resolve) => s.once("goaway", () => resolve()));
    serverSessions.at(-1)!.goaway();
    await goaway;
    const s2 = pool.session(target);
    expect(s2 === s).toBe(false);
    await connected(s2);
    const closed = new Promise<void>((resolve) => s2.once("close", () => resolve()));
    serverSessions.at(-1)!.destroy();
    await closed;
    expect(pool.session(target) === s2).toBe(false);
    await pool.close();
  });

  it("closing the pool while a session still connects throws nothing (found writing these tests: an uncaught exception)", async () => {
    const pool = createUpstreamPool();
    const s = pool.session(pool.target(url));
    expect(s.connecting).toBe(true);
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.prependListener("uncaughtException", onUncaught);
    try {
      await pool.close();
      await new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once("close", () => resolve())));
      await new Promise<void>((resolve) => setImmediate(resolve));
    } finally {
      process.off("uncaughtException", onUncaught);
    }
    expect(uncaught).toEqual([]);
  });

  it("a session that could not connect (error) is replaced, and the error does not escape", async () => {
    const pool = createUpstreamPool();
    const dead = http2.createServer();
    await new Promise<void>((resolve) => dead.listen(0, "127.0.0.1", resolve));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    const target = pool.target(`http://127.0.0.1:${port}`);
    const s = pool.session(target);
    await new Promise<void>((resolve) => s.once("close", () => resolve()));
    expect(pool.session(target) === s).toBe(false);
    await pool.close();
  });
});
