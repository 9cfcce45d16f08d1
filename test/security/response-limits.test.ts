import { randomBytes } from "node:crypto";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, toBinary } from "@bufbuild/protobuf";
import { GetResponseSchema, KVService, PutManyResponseSchema } from "../../gen/kv/v1/kv_pb.js";
import { DEFAULT_LIMITS } from "../../src/protocol/constants.js";
import { startTestHost, type TestHost } from "../helpers/host.js";
import { bearer, createTransports, PROTOCOLS } from "../helpers/transports.js";
// The connect-node provider serves every protocol (ALL_PROTOCOLS): these are passthrough limits; the bridge has its own.
import { ALL_PROTOCOLS, clientFactory, startFront, stubRouterOptions } from "../integration/router/harness.js";
import { codeOf, KV } from "./harness.js";

/**
 * Hole 6: a provider's answer is held to the response message limit on its way through the router,
 * in every protocol and call kind, and the call ends cleanly (ResourceExhausted) at a message boundary.
 */
const LIMIT = DEFAULT_LIMITS.maxResponseMessageBytes;
const OVER = 6 * 1024 * 1024;
// Under the limit on the wire, with room for protobuf framing and gzip's overhead on incompressible bytes.
const UNDER = LIMIT - 64 * 1024;

/** Incompressible bytes: providers gzip answers when callers accept it, and the limit counts wire bytes. */
const NOISE = randomBytes(OVER + 1024);
const noise = (size: number) => NOISE.subarray(0, size);

/** Field 2 as an unknown length-delimited field: lets a PutManyResponse (count only) carry any size. */
function unknownBytesField(size: number) {
  return [{ no: 2, wireType: WireType.LengthDelimited, data: new BinaryWriter().bytes(noise(size)).finish() }];
}

/** A real provider whose answers are as large as the request asks. */
async function startBigProvider() {
  const server = http2.createServer(
    connectNodeAdapter({
      routes: (r) =>
        r.service(KVService, {
          async get(req) {
            return { key: "big", value: noise(Number(req.key)), found: true };
          },
          async *list(req) {
            yield { key: "a" };
            yield { key: "b" };
            yield { key: "big", value: noise(Number(req.prefix)) };
            yield { key: "after" };
          },
          async putMany(reqs) {
            let size = 0;
            for await (const r of reqs) size = Number(r.key);
            const res = create(PutManyResponseSchema, { count: 1 });
            res.$unknown = unknownBytesField(size);
            return res;
          },
          async *exchange(reqs) {
            for await (const r of reqs) yield { text: r.text.startsWith("size:") ? noise(Number(r.text.slice(5))).toString("base64").slice(0, Number(r.text.slice(5))) : `echo:${r.text}` };
          },
        }),
    }),
  );
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => (sessions.add(s), s.on("close", () => sessions.delete(s))));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function* sizes(...items: string[]) {
  for (const key of items) yield { key };
}

describe("routed responses are held to maxResponseMessageBytes (through a real host)", () => {
  let provider: Awaited<ReturnType<typeof startBigProvider>>;
  let t: TestHost;
  let transports: ReturnType<typeof createTransports>;
  let token: string;
  beforeAll(async () => {
    provider = await startBigProvider();
    // Hand-registered providers send no heartbeat: leases off, or the registration ends mid-file on a slow machine.
    t = await startTestHost({ registrationLeaseMs: 0 });
    const kv = await t.handshake({ pluginName: "kv", baseUrl: provider.url, provides: [{ type: KV, version: "1.0.0" }] });
    await t.clients("connect").registry.register({ serviceType: KV, protocols: ALL_PROTOCOLS }, bearer(kv.token));
    token = (await t.handshake({ pluginName: "consumer", requires: [{ type: KV, versionRange: "^1.0.0" }] })).token;
    transports = createTransports(t.url);
  });
  afterAll(async () => {
    transports?.close();
    await t?.close();
    await provider?.close();
  });

  const kvClient = (transport: Transport) => createClient(KVService, transport);

  describe.each(PROTOCOLS)("over %s", (protocol) => {
    it("a unary answer over the limit is ResourceExhausted; one under it is delivered", async () => {
      const kv = kvClient(transports.make(protocol));
      const err = await kv.get({ key: String(OVER) }, bearer(token)).then(() => undefined, (e) => ConnectError.from(e));
      expect(err?.code).toBe(Code.ResourceExhausted);
      expect(err?.message).toContain(`response message larger than ${LIMIT} bytes`);
      expect((await kv.get({ key: String(UNDER) }, bearer(token))).value.length).toBe(UNDER);
    });

    it("a server stream delivers the messages before the oversize one, then ends with ResourceExhausted", async () => {
      const kv = kvClient(transports.make(protocol));
      const keys: string[] = [];
      let code: Code | "ok" = "ok";
      try {
        for await (const m of kv.list({ prefix: String(OVER) }, { ...bearer(token), timeoutMs: 20_000 })) keys.push(m.key);
      } catch (e) {
        code = ConnectError.from(e).code;
      }
      expect(keys).toEqual(["a", "b"]);
      expect(code).toBe(Code.ResourceExhausted);
    });

    it("a client stream's oversize answer is ResourceExhausted", async () => {
      const kv = kvClient(transports.make(protocol));
      expect(await codeOf(kv.putMany(sizes("1", String(OVER)), bearer(token)))).toBe(Code.ResourceExhausted);
      expect((await kv.putMany(sizes(String(UNDER)), bearer(token))).count).toBe(1);
    });

    it("a bidi stream delivers earlier answers, then ends with ResourceExhausted", async () => {
      const kv = kvClient(transports.make(protocol));
      async function* texts() {
        yield { text: "one" };
        yield { text: `size:${OVER}` };
      }
      const got: string[] = [];
      let code: Code | "ok" = "ok";
      try {
        for await (const m of kv.exchange(texts(), { ...bearer(token), timeoutMs: 20_000 })) got.push(m.text);
      } catch (e) {
        code = ConnectError.from(e).code;
      }
      expect(got).toEqual(["echo:one"]);
      expect(code).toBe(Code.ResourceExhausted);
    });
  });

  it("the host keeps serving after cutting answers", async () => {
    const kv = kvClient(transports.make("connect"));
    expect((await kv.get({ key: "3" }, bearer(token))).value.length).toBe(3);
  });

  it("the limit is its own host option", async () => {
    const small = await startTestHost({ limits: { maxResponseMessageBytes: 1024 } });
    const local = createTransports(small.url);
    try {
      const kv = await small.handshake({ pluginName: "kv", baseUrl: provider.url, provides: [{ type: KV, version: "1.0.0" }] });
      await small.clients("connect").registry.register({ serviceType: KV, protocols: ALL_PROTOCOLS }, bearer(kv.token));
      const consumer = await small.handshake({ pluginName: "consumer", requires: [{ type: KV, versionRange: "^1.0.0" }] });
      const client = kvClient(local.make("grpc"));
      expect(await codeOf(client.get({ key: "2048" }, bearer(consumer.token)))).toBe(Code.ResourceExhausted);
      expect((await client.get({ key: "512" }, bearer(consumer.token))).value.length).toBe(512);
    } finally {
      local.close();
      await small.close();
    }
  });
});

/** A provider that answers Connect unary calls in chunks and without content-length (as many servers do). */
async function startChunkedProvider(size: number) {
  const server = http2.createServer();
  server.on("stream", (stream: http2.ServerHttp2Stream) => {
    stream.resume();
    stream.respond({ ":status": 200, "content-type": "application/proto" });
    // A valid GetResponse, so that without the limit the caller would accept it.
    const body = Buffer.from(toBinary(GetResponseSchema, create(GetResponseSchema, { value: new Uint8Array(size) })));
    let at = 0;
    const pump = () => {
      while (at < body.length) {
        const chunk = body.subarray(at, at + 64 * 1024);
        at += chunk.length;
        if (!stream.write(chunk)) return void stream.once("drain", pump);
      }
      stream.end();
    };
    pump();
    stream.on("error", () => undefined);
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => (sessions.add(s), s.on("close", () => sessions.delete(s))));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("a Connect unary answer without content-length", () => {
  it("is still cut at the limit: ResourceExhausted, not a truncated or oversize body", async () => {
    const provider = await startChunkedProvider(OVER);
    const front = await startFront(stubRouterOptions(() => provider.url));
    const clients = clientFactory();
    try {
      const err = await clients
        .client("connect", front.url)
        .get({ key: "k" }, { timeoutMs: 20_000 })
        .then(() => undefined, (e) => ConnectError.from(e));
      expect(err?.code).toBe(Code.ResourceExhausted);
    } finally {
      clients.close();
      await front.close();
      await provider.close();
    }
  });
});

/** A provider speaking gRPC-Web text: a small message, then one of `size` bytes, each base64-encoded on its own. */
async function startTextProvider(size: number) {
  const server = http2.createServer();
  server.on("stream", (stream: http2.ServerHttp2Stream) => {
    stream.resume();
    stream.on("error", () => undefined);
    stream.respond({ ":status": 200, "content-type": "application/grpc-web-text+proto" });
    const envelope = (payload: Buffer) => {
      const head = Buffer.alloc(5);
      head.writeUInt32BE(payload.length, 1);
      return Buffer.concat([head, payload]);
    };
    stream.write(envelope(Buffer.from([0x0a, 0x01, 0x61])).toString("base64"));
    const big = Buffer.from(envelope(noise(size)).toString("base64"), "latin1");
    let at = 0;
    const pump = () => {
      while (at < big.length) {
        const chunk = big.subarray(at, at + 64 * 1024 + 3); // chunks not aligned to base64 quads
        at += chunk.length;
        if (!stream.write(chunk)) return void stream.once("drain", pump);
      }
      stream.end(Buffer.concat([Buffer.from([0x80, 0, 0, 0, 14]), Buffer.from("grpc-status:0\r\n")]).toString("base64"));
    };
    pump();
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => (sessions.add(s), s.on("close", () => sessions.delete(s))));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("a gRPC-Web text answer", () => {
  it("is limited too: past the limit the call ends cleanly with ResourceExhausted (whole messages only, then the trailer frame)", async () => {
    const provider = await startTextProvider(OVER);
    const front = await startFront(stubRouterOptions(() => provider.url));
    const session = http2.connect(front.url);
    session.on("error", () => undefined);
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": "/kv.v1.KVService/List",
        "content-type": "application/grpc-web-text+proto",
        authorization: "Bearer pbrt_alice",
      });
      stream.on("error", () => undefined);
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      const rstCode = await new Promise<number | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), 20_000);
        stream.on("close", () => (clearTimeout(timer), resolve(stream.rstCode)));
        stream.end(Buffer.alloc(5).toString("base64"));
      });
      expect(rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
      // Padded base64 runs: the first (small) message, then — the oversize one never started — the trailer frame.
      const text = Buffer.concat(chunks).toString("latin1");
      const body = Buffer.concat((text.match(/[^=]*=*/g) ?? []).filter((r) => r.length > 0).map((r) => Buffer.from(r, "base64")));
      expect(body.subarray(0, 8).equals(Buffer.from([0, 0, 0, 0, 3, 0x0a, 0x01, 0x61]))).toBe(true);
      const trailer = body.subarray(8);
      expect(trailer[0]).toBe(0x80);
      expect(trailer.length).toBe(5 + trailer.readUInt32BE(1));
      expect(trailer.subarray(5).toString("latin1")).toMatch(/grpc-status: ?8/);
    } finally {
      session.destroy();
      await front.close();
      await provider.close();
    }
  });
});
