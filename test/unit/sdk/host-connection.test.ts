import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { createClient, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { createHostConnection, type HostConnection, type Protocol } from "../../../src/sdk/host-connection.js";

/**
 * A loopback host recording each request's content-type (the protocol that reaches it) and its HTTP/2
 * sessions. List streams one entry named after the prefix, then holds until that prefix is released.
 */
let server: http2.Http2Server;
let url = "";
const sessions: http2.ServerHttp2Session[] = [];
const contentTypes: string[] = [];
const held = new Map<string, () => void>();
const release = (prefix: string) => {
  held.get(prefix)?.();
  held.delete(prefix);
};

beforeAll(async () => {
  const adapter = connectNodeAdapter({
    routes: (router: ConnectRouter) =>
      router.service(KVService, {
        get: (req) => ({ found: true, value: new TextEncoder().encode(req.key) }),
        async *list(req) {
          yield { key: `${req.prefix}-first` };
          await new Promise<void>((r) => held.set(req.prefix, r));
          yield { key: `${req.prefix}-last` };
        },
      }),
  });
  server = http2.createServer((req, res) => {
    contentTypes.push(String(req.headers["content-type"]));
    void adapter(req, res);
  });
  server.on("session", (s) => sessions.push(s));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
let connection: HostConnection | undefined;
afterEach(async () => {
  for (const prefix of [...held.keys()]) release(prefix);
  connection?.close();
  connection = undefined;
  await new Promise((r) => setImmediate(r));
  for (const s of sessions.splice(0)) s.destroy();
  contentTypes.length = 0;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

const closed = (s: http2.ServerHttp2Session | undefined) => s === undefined || s.closed || s.destroyed;
async function waitFor(what: string, probe: () => boolean, timeoutMs = 8_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("transport(): the protocol a plugin's client speaks to the host", () => {
  const cases: [Protocol, string][] = [
    ["connect", "application/proto"],
    ["grpc", "application/grpc+proto"],
    ["grpc-web", "application/grpc-web+proto"],
  ];
  it.each(cases)("%s reaches the host as %s, over one shared connection", async (protocol, contentType) => {
    connection = createHostConnection(url, undefined, 1024 * 1024);
    const kv = createClient(KVService, connection.transport(protocol, []));
    expect((await kv.get({ key: "a" })).value).toEqual(new TextEncoder().encode("a"));
    expect((await kv.get({ key: "b" })).found).toBe(true);
    expect(contentTypes).toEqual([contentType, contentType]);
    expect(sessions).toHaveLength(1);
  });

  it("a client's transport options reach the transport (JSON instead of binary)", async () => {
    connection = createHostConnection(url, undefined, 1024 * 1024);
    const kv = createClient(KVService, connection.transport("connect", [], { useBinaryFormat: false }));
    expect((await kv.get({ key: "a" })).found).toBe(true);
    expect(contentTypes).toEqual(["application/json"]);
  });
});

describe("rotate(): the old connection closes when its LAST stream ends", () => {
  it("with two streams in flight, the first ending leaves it open; the second ending closes it", async () => {
    connection = createHostConnection(url, undefined, 1024 * 1024);
    const kv = createClient(KVService, connection.transport("grpc", []));
    const one = kv.list({ prefix: "one" })[Symbol.asyncIterator]();
    const two = kv.list({ prefix: "two" })[Symbol.asyncIterator]();
    expect((await one.next()).value?.key).toBe("one-first");
    expect((await two.next()).value?.key).toBe("two-first");
    expect(sessions).toHaveLength(1);

    connection.rotate();
    expect((await kv.get({ key: "new" })).found).toBe(true);
    expect(sessions).toHaveLength(2);

    release("one");
    expect((await one.next()).value?.key).toBe("one-last");
    expect((await one.next()).done).toBe(true);
    // One more round trip on the new connection: the old one's clean-up has had its turn.
    await new Promise((r) => setImmediate(r));
    expect((await kv.get({ key: "again" })).found).toBe(true);
    expect(closed(sessions[0])).toBe(false); // stream "two" still holds it

    release("two");
    expect((await two.next()).value?.key).toBe("two-last");
    expect((await two.next()).done).toBe(true);
    await waitFor("the old connection to close", () => closed(sessions[0]));
    expect(closed(sessions[1])).toBe(false);
    expect(sessions).toHaveLength(2);
  });

  it("the current connection stays open when its streams end (only retired ones are closed)", async () => {
    connection = createHostConnection(url, undefined, 1024 * 1024);
    const kv = createClient(KVService, connection.transport("connect", []));
    const one = kv.list({ prefix: "cur" })[Symbol.asyncIterator]();
    expect((await one.next()).value?.key).toBe("cur-first");
    release("cur");
    expect((await one.next()).done).toBe(false);
    expect((await one.next()).done).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect((await kv.get({ key: "x" })).found).toBe(true);
    expect(sessions).toHaveLength(1);
    expect(closed(sessions[0])).toBe(false);
  });

  it("rotate() with no stream in flight closes the old connection at once", async () => {
    connection = createHostConnection(url, undefined, 1024 * 1024);
    const kv = createClient(KVService, connection.transport("connect", []));
    expect((await kv.get({ key: "a" })).found).toBe(true);
    await new Promise((r) => setImmediate(r));
    connection.rotate();
    await waitFor("the old connection to close", () => closed(sessions[0]));
    expect((await kv.get({ key: "b" })).found).toBe(true);
    expect(sessions).toHaveLength(2);
  });

  it("close() also closes a retired connection whose stream is still in flight", async () => {
    connection = createHostConnection(url, undefined, 1024 * 1024);
    const kv = createClient(KVService, connection.transport("connect", []));
    const one = kv.list({ prefix: "held" })[Symbol.asyncIterator]();
    expect((await one.next()).value?.key).toBe("held-first");
    connection.rotate();
    expect((await kv.get({ key: "b" })).found).toBe(true);
    expect(sessions).toHaveLength(2);
    expect(closed(sessions[0])).toBe(false);
    connection.close();
    connection = undefined;
    await expect(one.next()).rejects.toThrow();
    await waitFor("both connections to close", () => closed(sessions[0]) && closed(sessions[1]));
  });
});
