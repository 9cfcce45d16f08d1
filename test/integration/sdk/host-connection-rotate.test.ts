import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { createClient, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { createHostConnection } from "../../../src/sdk/host-connection.js";
import { waitFor } from "../launcher/harness.js";

/** A server counting HTTP/2 sessions; List streams one entry, then holds until released. */
let server: http2.Http2Server;
let url = "";
const sessions: http2.ServerHttp2Session[] = [];
let release: () => void = () => undefined;

beforeAll(async () => {
  const handler = connectNodeAdapter({
    routes: (router: ConnectRouter) =>
      router.service(KVService, {
        get: (req) => ({ found: true, value: new TextEncoder().encode(req.key) }),
        async *list() {
          yield { key: "first" };
          await new Promise<void>((r) => (release = r));
          yield { key: "last" };
        },
      }),
  });
  server = http2.createServer(handler);
  server.on("session", (s) => sessions.push(s));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const s of sessions) s.destroy();
  await new Promise((r) => server.close(r));
});

it("rotate(): new calls use a new connection, a stream in flight finishes on the old one, which then closes", async () => {
  const connection = createHostConnection(url, undefined, 1024 * 1024);
  try {
    const kv = createClient(KVService, connection.transport("grpc", []));
    expect((await kv.get({ key: "a" })).found).toBe(true);
    const stream = kv.list({ prefix: "" })[Symbol.asyncIterator]();
    expect((await stream.next()).value?.key).toBe("first");
    expect(sessions).toHaveLength(1);

    connection.rotate();
    expect((await kv.get({ key: "b" })).found).toBe(true);
    expect(sessions).toHaveLength(2);
    expect(sessions[0]!.closed || sessions[0]!.destroyed).toBe(false); // the stream still holds it

    release();
    expect((await stream.next()).value?.key).toBe("last");
    expect((await stream.next()).done).toBe(true);
    await waitFor("the old connection to close", () => sessions[0]!.closed || sessions[0]!.destroyed);
    expect(sessions[1]!.closed || sessions[1]!.destroyed).toBe(false);
    expect((await kv.get({ key: "c" })).found).toBe(true);
    expect(sessions).toHaveLength(2);
  } finally {
    connection.close();
  }
});
