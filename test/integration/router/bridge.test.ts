import http2 from "node:http2";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { create, toBinary } from "@bufbuild/protobuf";
import { GetRequestSchema, GetResponseSchema, KVService } from "../../../gen/kv/v1/kv_pb.js";
import { fromBinary } from "@bufbuild/protobuf";
import { Protocol as ServedProtocol } from "../../../gen/plugboard/v1/common_pb.js";
import type { RouteTarget } from "../../../src/router/index.js";
import { SIGNING_KEY, TRAILER_NAME, clientFactory, expectConnectError, messages, startFront, startProvider, stubRouterOptions } from "./harness.js";

/**
 * A provider that serves gRPC alone (as grpcio and grpc-go do) reached by Connect and gRPC-Web
 * callers: the router translates envelopes, headers, trailers, errors and deadlines.
 */
describe("protocol bridge: Connect and gRPC-Web callers reach a gRPC-only provider", () => {
  let provider: Awaited<ReturnType<typeof startProvider>>;
  let front: Awaited<ReturnType<typeof startFront>>;
  let declared: number[] = [];
  const clients = clientFactory();

  beforeAll(async () => {
    provider = await startProvider({ grpcOnly: true });
    front = await startFront(
      stubRouterOptions(() => provider.url, {
        maxMessageBytes: 64 * 1024,
        async resolve(service): Promise<RouteTarget> {
          if (service !== "kv.v1.KVService") throw new ConnectError(`no provider for ${service}`, Code.NotFound);
          return { runtimeId: "kv-1", registrationId: "reg-1", endpoint: provider.url, signingKey: SIGNING_KEY, protocols: declared };
        },
      }),
    );
  });
  afterAll(async () => {
    clients.close();
    await front.close();
    await provider.close();
  });

  it("without the bridge (provider declared to speak Connect) a Connect caller fails: the provider speaks gRPC only", async () => {
    declared = [ServedProtocol.GRPC, ServedProtocol.CONNECT, ServedProtocol.GRPC_WEB];
    try {
      const err = await expectConnectError(clients.client("connect", front.url).get({ key: "a" }));
      expect(err.code).toBeGreaterThan(0);
    } finally {
      declared = [];
    }
  });

  describe.each(["connect", "grpcweb"] as const)("%s caller", (protocol) => {
    it("unary: answer, caller header, trailers", async () => {
      const kv = clients.client(protocol, front.url);
      await kv.put({ key: `k-${protocol}`, value: new Uint8Array([1, 2, 3]) });
      let trailer: string | null = null;
      const res = await kv.get({ key: `k-${protocol}` }, { onTrailer: (t) => (trailer = t.get(TRAILER_NAME)) });
      expect(res.found).toBe(true);
      expect([...res.value]).toEqual([1, 2, 3]);
      expect(res.caller).toBe("runtime:alice");
      expect(trailer).toBe("yes");
    });

    it("unary error: code, message and details", async () => {
      const err = await expectConnectError(clients.client(protocol, front.url).get({ key: "missing" }));
      expect(err.code).toBe(Code.NotFound);
      expect(err.rawMessage).toBe("no such key");
      const detail = err.findDetails(GetRequestSchema)[0];
      expect(detail?.key).toBe("missing");
    });

    it("server streaming: every message and the trailer", async () => {
      const kv = clients.client(protocol, front.url);
      const keys: string[] = [];
      let trailer: string | null = null;
      for await (const r of kv.list({ prefix: "p" }, { onTrailer: (t) => (trailer = t.get(TRAILER_NAME)) })) keys.push(r.key);
      expect(keys).toEqual(["p0", "p1", "p2"]);
      expect(trailer).toBe("yes");
    });

    it("client streaming", async () => {
      const kv = clients.client(protocol, front.url);
      const res = await kv.putMany(messages([{ key: "m1" }, { key: "m2" }, { key: "m3" }]));
      expect(res.count).toBe(3);
    });

    it("bidi streaming: messages, headers, and an error after some messages", async () => {
      const kv = clients.client(protocol, front.url);
      const seen: string[] = [];
      let header: string | null = null;
      const run = async () => {
        for await (const r of kv.exchange(messages([{ text: "a" }, { text: "b" }, { text: "fail" }]), { onHeader: (h) => (header = h.get("x-provider-header")) }))
          seen.push(r.text);
      };
      const err = await expectConnectError(run());
      expect(err.code).toBe(Code.FailedPrecondition);
      expect(err.rawMessage).toBe("exchange refused");
      expect(seen).toEqual(["echo:a", "echo:b"]);
      expect(header).toBe("h");
    });

    it("deadline: the caller's timeout reaches the provider as grpc-timeout and ends the call", async () => {
      const kv = clients.client(protocol, front.url);
      const err = await expectConnectError(kv.get({ key: "slow" }, { timeoutMs: 300 }));
      expect(err.code).toBe(Code.DeadlineExceeded);
      expect(provider.log.lastHeaders?.get("grpc-timeout")).toMatch(/^\d+m$/);
    });
  });

  it("gzip: a compressed Connect request and response cross the bridge", async () => {
    const baseUrl = front.url;
    const sessionManager = new Http2SessionManager(baseUrl);
    try {
      const transport = createConnectTransport({
        baseUrl,
        httpVersion: "2",
        sessionManager,
        sendCompression: compressionGzip,
        acceptCompression: [compressionGzip],
        compressMinBytes: 1,
        interceptors: [(next) => (req) => (req.header.set("authorization", "Bearer pbrt_alice"), next(req))],
      });
      const kv = createClient(KVService, transport);
      await kv.put({ key: "gz", value: new Uint8Array(2048).fill(7) });
      const res = await kv.get({ key: "gz" });
      expect(res.value.length).toBe(2048);
      expect(provider.log.lastHeaders?.get("grpc-encoding")).toBe("gzip");
      const keys: string[] = [];
      for await (const r of kv.list({ prefix: "z" })) keys.push(r.key);
      expect(keys).toEqual(["z0", "z1", "z2"]);
    } finally {
      sessionManager.abort();
    }
  });

  it("Connect GET (base64 message in the query) is translated too", async () => {
    const message = Buffer.from(toBinary(GetRequestSchema, create(GetRequestSchema, { key: "k-connect" }))).toString("base64url");
    const session = http2.connect(front.url);
    try {
      const { status, body, contentType } = await new Promise<{ status: number; body: Buffer; contentType: string }>((resolve, reject) => {
        const req = session.request({
          ":method": "GET",
          ":path": `/kv.v1.KVService/Get?connect=v1&encoding=proto&base64=1&message=${message}`,
          authorization: "Bearer pbrt_alice",
        });
        const chunks: Buffer[] = [];
        let status = 0;
        let contentType = "";
        req.on("response", (h) => {
          status = Number(h[":status"]);
          contentType = String(h["content-type"]);
        });
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => resolve({ status, body: Buffer.concat(chunks), contentType }));
        req.on("error", reject);
        req.end();
      });
      expect(status).toBe(200);
      expect(contentType).toBe("application/proto");
      expect(fromBinary(GetResponseSchema, body).found).toBe(true);
    } finally {
      session.close();
    }
  });

  it("JSON cannot cross without the schema: refused with the codec the provider accepts", async () => {
    const baseUrl = front.url;
    const sessionManager = new Http2SessionManager(baseUrl);
    try {
      for (const transport of [
        createConnectTransport({ baseUrl, httpVersion: "2", sessionManager, useBinaryFormat: false, interceptors: [(next) => (req) => (req.header.set("authorization", "Bearer pbrt_alice"), next(req))] }),
        createGrpcWebTransport({ baseUrl, httpVersion: "2", sessionManager, useBinaryFormat: false, interceptors: [(next) => (req) => (req.header.set("authorization", "Bearer pbrt_alice"), next(req))] }),
      ]) {
        const err = await expectConnectError(createClient(KVService, transport).get({ key: "a" }));
        expect(err.code).toBe(Code.InvalidArgument);
        expect(err.rawMessage).toMatch(/serves gRPC only.*proto codec/);
      }
    } finally {
      sessionManager.abort();
    }
  });

  it("the response message limit holds for translated calls: ResourceExhausted, never a truncated answer", async () => {
    const small = await startFront(
      stubRouterOptions(() => provider.url, {
        maxResponseMessageBytes: 1024,
        async resolve(): Promise<RouteTarget> {
          return { runtimeId: "kv-1", registrationId: "reg-1", endpoint: provider.url, signingKey: SIGNING_KEY };
        },
      }),
    );
    const own = clientFactory();
    try {
      // Random bytes: a compressed answer is limited by its size on the wire.
      await own.client("grpc", front.url).put({ key: "big", value: randomBytes(4096) });
      for (const protocol of ["connect", "grpcweb"] as const) {
        const kv = own.client(protocol, small.url);
        const err = await expectConnectError(kv.get({ key: "big" }));
        expect(err.code, protocol).toBe(Code.ResourceExhausted);
        expect(err.rawMessage).toMatch(/response message larger than 1024 bytes/);
        expect((await kv.get({ key: "k-connect" })).found, protocol).toBe(true);
      }
    } finally {
      own.close();
      await small.close();
    }
  });

  it("a gRPC caller is not translated (passthrough)", async () => {
    const res = await clients.client("grpc", front.url).get({ key: "k-connect" });
    expect(res.found).toBe(true);
  });
});
