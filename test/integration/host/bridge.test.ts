import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { Protocol } from "../../../gen/plugboard/v1/common_pb.js";
import { bearer, createTransports } from "../../helpers/transports.js";
import { createConnectTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { Interceptor } from "@connectrpc/connect";
import { fileDescriptorSetOf } from "../../../src/reflection/index.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { startProvider } from "../router/harness.js";

const KV = "kv.v1.KVService";
let t: TestHost | undefined;
let provider: Awaited<ReturnType<typeof startProvider>> | undefined;
afterEach(async () => {
  await t?.close();
  await provider?.close();
  t = provider = undefined;
});

describe("registrations declare the protocols their provider serves", () => {
  it("stores and returns them; unknown values are InvalidArgument", async () => {
    t = await startTestHost();
    const { registry } = t.clients("connect");
    const p = await t.handshake({ pluginName: "kv", baseUrl: "http://127.0.0.1:7001", provides: [{ type: KV, version: "1.0.0" }] });
    const err = await registry.register({ serviceType: KV, protocols: [7 as Protocol] }, bearer(p.token)).catch((e) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage).toMatch(/protocols/);
    const res = await registry.register({ serviceType: KV, protocols: [Protocol.CONNECT, Protocol.GRPC] }, bearer(p.token));
    expect(res.registration?.protocols).toEqual([Protocol.GRPC, Protocol.CONNECT]);
    const found = await registry.discover({ serviceType: KV }, bearer(p.token));
    expect(found.providers[0]?.protocols).toEqual([Protocol.GRPC, Protocol.CONNECT]);
  });

  it("a Connect consumer (the SDK's default) reaches a provider registered without protocols (gRPC only) through the host", async () => {
    provider = await startProvider({ grpcOnly: true });
    t = await startTestHost();
    const { registry } = t.clients("connect");
    const p = await t.handshake({ pluginName: "kv", baseUrl: provider.url, provides: [{ type: KV, version: "1.0.0" }] });
    await registry.register({ serviceType: KV }, bearer(p.token));
    const consumer = await t.handshake({ pluginName: "consumer", requires: [{ type: KV }] });
    const transports = createTransports(t.url);
    try {
      for (const protocol of ["connect", "grpc-web", "grpc"] as const) {
        const kv = createClient(KVService, transports.make(protocol));
        await kv.put({ key: protocol, value: new Uint8Array([1]) }, bearer(consumer.token));
        const res = await kv.get({ key: protocol }, bearer(consumer.token));
        expect(res.found, protocol).toBe(true);
        const keys: string[] = [];
        for await (const r of kv.list({ prefix: "s" }, bearer(consumer.token))) keys.push(r.key);
        expect(keys, protocol).toEqual(["s0", "s1", "s2"]);
        const err = await kv.get({ key: "missing" }, bearer(consumer.token)).catch((e) => ConnectError.from(e));
        expect((err as ConnectError).code, protocol).toBe(Code.NotFound);
      }
    } finally {
      transports.close();
    }
  });

  it("JSON crosses the bridge when the provider registered its descriptors; without them it is refused", async () => {
    provider = await startProvider({ grpcOnly: true });
    t = await startTestHost();
    const { registry } = t.clients("connect");
    const p = await t.handshake({ pluginName: "kv", baseUrl: provider.url, provides: [{ type: KV, version: "1.0.0" }] });
    const consumer = await t.handshake({ pluginName: "consumer", requires: [{ type: KV }] });
    const manager = new Http2SessionManager(t.url);
    const auth: Interceptor = (next) => (req) => (req.header.set("authorization", `Bearer ${consumer.token}`), next(req));
    const common = { baseUrl: t.url, httpVersion: "2" as const, sessionManager: manager, useBinaryFormat: false, interceptors: [auth] };
    try {
      await registry.register({ serviceType: KV }, bearer(p.token));
      const refused = await createClient(KVService, createConnectTransport(common)).get({ key: "j" }).catch((e) => ConnectError.from(e));
      expect((refused as ConnectError).code).toBe(Code.InvalidArgument);
      expect((refused as ConnectError).rawMessage).toMatch(/registered no descriptors/);

      await registry.register({ serviceType: KV, fileDescriptorSet: fileDescriptorSetOf([KVService]) }, bearer(p.token));
      for (const transport of [createConnectTransport(common), createGrpcWebTransport(common)]) {
        const kv = createClient(KVService, transport);
        await kv.put({ key: "j", value: new Uint8Array([4, 2]) });
        const res = await kv.get({ key: "j" });
        expect([...res.value]).toEqual([4, 2]);
        const keys: string[] = [];
        for await (const r of kv.list({ prefix: "j" })) keys.push(r.key);
        expect(keys).toEqual(["j0", "j1", "j2"]);
        const err = await kv.get({ key: "missing" }).catch((e) => ConnectError.from(e));
        expect((err as ConnectError).code).toBe(Code.NotFound);
        let count = 0;
        for await (const r of kv.exchange((async function* () { yield { text: "a" }; yield { text: "b" }; })())) count += r.text.startsWith("echo:") ? 1 : 0;
        expect(count).toBe(2);
      }
    } finally {
      manager.abort();
    }
  });

  it("host.client reaches a gRPC-only provider by default (gRPC); Connect to it is FailedPrecondition, naming the fix", async () => {
    provider = await startProvider({ grpcOnly: true });
    t = await startTestHost();
    const p = await t.handshake({ pluginName: "kv", baseUrl: provider.url, provides: [{ type: KV, version: "1.0.0" }] });
    await t.clients("connect").registry.register({ serviceType: KV }, bearer(p.token));
    const kv = t.host.client(KVService);
    await kv.put({ key: "h", value: new Uint8Array([9]) });
    expect((await kv.get({ key: "h" })).found).toBe(true);
    const err = await t.host.client(KVService, { protocol: "connect" }).get({ key: "h" }).catch((e) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((err as ConnectError).rawMessage).toMatch(/serves gRPC only.*protocol: "grpc"/);
  });
});
