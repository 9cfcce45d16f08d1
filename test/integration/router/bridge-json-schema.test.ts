/**
 * JSON crosses the protocol bridge (to a gRPC-only provider) only with the method's schema from the
 * provider's registration: a JSON caller is translated with it; a codec that is neither proto nor JSON
 * is refused naming the codec, without the schema being looked up.
 */
import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { GetRequestSchema, GetResponseSchema, KVService } from "../../../gen/kv/v1/kv_pb.js";
import { Protocol as ServedProtocol } from "../../../gen/plugboard/v1/common_pb.js";
import type { RouteTarget } from "../../../src/router/index.js";
import { SIGNING_KEY, clientFactory, expectConnectError, startFront, startProvider, stubRouterOptions } from "./harness.js";

describe("JSON over the protocol bridge", () => {
  let provider: Awaited<ReturnType<typeof startProvider>>;
  let front: Awaited<ReturnType<typeof startFront>>;
  const lookups: string[] = [];
  const clients = clientFactory();

  beforeAll(async () => {
    provider = await startProvider({ grpcOnly: true });
    front = await startFront(
      stubRouterOptions(() => provider.url, {
        async resolve(): Promise<RouteTarget> {
          return { runtimeId: "kv-1", registrationId: "reg-1", endpoint: provider.url, signingKey: SIGNING_KEY, protocols: [ServedProtocol.GRPC] };
        },
        methodSchema: (registrationId, service, method) => {
          lookups.push(`${registrationId}/${service}/${method}`);
          return method === "Get" ? { input: GetRequestSchema, output: GetResponseSchema } : undefined;
        },
      }),
    );
    await clients.client("grpc", front.url).put({ key: "j", value: new Uint8Array([7]) });
    clients.close();
  });
  afterAll(async () => {
    clients.close();
    await front.close();
    await provider.close();
  });

  it("a JSON caller reaches the gRPC-only provider with the registration's schema", async () => {
    const baseUrl = front.url;
    const sessionManager = new Http2SessionManager(baseUrl);
    const auth = (next: Parameters<import("@connectrpc/connect").Interceptor>[0]) => (req: Parameters<ReturnType<import("@connectrpc/connect").Interceptor>>[0]) => (req.header.set("authorization", "Bearer pbrt_alice"), next(req));
    try {
      for (const transport of [
        createConnectTransport({ baseUrl, httpVersion: "2", sessionManager, useBinaryFormat: false, interceptors: [auth] }),
        createGrpcWebTransport({ baseUrl, httpVersion: "2", sessionManager, useBinaryFormat: false, interceptors: [auth] }),
      ]) {
        lookups.length = 0;
        const res = await createClient(KVService, transport).get({ key: "j" });
        expect(res.found).toBe(true);
        expect([...res.value]).toEqual([7]);
        expect(lookups).toEqual(["reg-1/kv.v1.KVService/Get"]);
      }
      // A method whose schema the registration lacks: refused like JSON without descriptors.
      const err = await expectConnectError(
        createClient(KVService, createConnectTransport({ baseUrl, httpVersion: "2", sessionManager, useBinaryFormat: false, interceptors: [auth] })).put({ key: "x" }),
      );
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.rawMessage).toMatch(/serves gRPC only.*not json/);
    } finally {
      sessionManager.abort();
    }
  });

  it("a codec neither proto nor JSON is refused naming it, the schema not looked up", async () => {
    lookups.length = 0;
    const session = http2.connect(front.url);
    session.on("error", () => undefined);
    try {
      const req = session.request({ ":method": "POST", ":path": "/kv.v1.KVService/Get", "content-type": "application/grpc-web+xml", authorization: "Bearer pbrt_alice" });
      req.on("error", () => undefined);
      let headers: http2.IncomingHttpHeaders = {};
      req.on("response", (h) => (headers = h));
      const body: Buffer[] = [];
      req.on("data", (c: Buffer) => body.push(c));
      req.end(Buffer.from([0, 0, 0, 0, 0]));
      await new Promise((resolve) => req.once("close", resolve));
      // gRPC-Web: the status is in the trailer frame of the body.
      expect(headers[":status"]).toBe(200);
      const trailer = Buffer.concat(body).subarray(5).toString();
      expect(trailer).toContain(`grpc-status: ${Code.InvalidArgument}`);
      expect(trailer).toMatch(/serves gRPC only.*\(not xml\)/);
      expect(lookups).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => setImmediate(resolve));
      session.close();
    }
  });
});
