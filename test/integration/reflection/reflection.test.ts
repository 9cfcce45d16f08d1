import { create, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { ServerReflection as V1 } from "../../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as V1alpha } from "../../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { fileDescriptorSetOf } from "../../../src/reflection/index.js";
import { bearer, createTransports } from "../../helpers/transports.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";

const KV = KVService.typeName;
let t: TestHost | undefined;
let transports: ReturnType<typeof createTransports> | undefined;
afterEach(async () => {
  transports?.close();
  await t?.close();
  t = transports = undefined;
});

async function* one<T>(m: T): AsyncIterable<T> {
  yield m;
}

async function setup() {
  t = await startTestHost();
  transports = createTransports(t.url);
  const { registry } = t.clients("connect");
  const p = await t.handshake({ pluginName: "kv", baseUrl: "http://127.0.0.1:7001", provides: [{ type: KV, version: "1.0.0" }] });
  return { registry, p };
}

describe("gRPC server reflection through the host", () => {
  it.each(["v1", "v1alpha"] as const)("%s: lists host and registered plugin services and describes them, to authenticated callers", async (version) => {
    const { registry, p } = await setup();
    const reg = await registry.register({ serviceType: KV, fileDescriptorSet: fileDescriptorSetOf([KVService]) }, bearer(p.token));
    const client = createClient(version === "v1" ? V1 : V1alpha, transports!.make("grpc")) as ReturnType<typeof createClient<typeof V1>>;
    const ask = async (req: Parameters<typeof client.serverReflectionInfo>[0] extends AsyncIterable<infer R> ? R : never, token = p.token) => {
      for await (const res of client.serverReflectionInfo(one(req), bearer(token))) return res;
      throw new Error("no answer");
    };
    const list = await ask({ messageRequest: { case: "listServices", value: "" } } as never);
    expect(list.messageResponse.case).toBe("listServicesResponse");
    const names = (list.messageResponse.value as { service: { name: string }[] }).service.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining([KV, "plugboard.v1.RegistryService", "grpc.reflection.v1.ServerReflection"]));

    const file = await ask({ messageRequest: { case: "fileContainingSymbol", value: `${KV}.Get` } } as never);
    expect(file.messageResponse.case).toBe("fileDescriptorResponse");
    const protos = (file.messageResponse.value as { fileDescriptorProto: Uint8Array[] }).fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
    expect(protos[0]?.name).toBe("kv/v1/kv.proto");
    expect(protos[0]?.service.map((s) => s.name)).toContain("KVService");

    const missing = await ask({ messageRequest: { case: "fileContainingSymbol", value: "no.such.Thing" } } as never);
    expect(missing.messageResponse.case).toBe("errorResponse");

    // Unauthenticated callers get nothing.
    const err = await ask({ messageRequest: { case: "listServices", value: "" } } as never, "pbrt_nobody").catch((e) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.Unauthenticated);

    // The plugin's service goes away with its registration.
    await registry.unregister({ registrationId: reg.registration!.registrationId }, bearer(p.token));
    const after = await ask({ messageRequest: { case: "listServices", value: "" } } as never);
    expect((after.messageResponse.value as { service: { name: string }[] }).service.map((s) => s.name)).not.toContain(KV);
  });

  it("refuses a set over the limit, one that does not parse, and one without the registered service", async () => {
    const { registry, p } = await setup();
    const code = (promise: Promise<unknown>) => promise.then(() => "ok", (e) => ConnectError.from(e));
    const tooBig = new Uint8Array(1024 * 1024 + 1);
    const e1 = (await code(registry.register({ serviceType: KV, fileDescriptorSet: tooBig }, bearer(p.token)))) as ConnectError;
    expect(e1.code).toBe(Code.InvalidArgument);
    expect(e1.rawMessage).toMatch(/file_descriptor_set.*descriptorSetBytes/);
    const e2 = (await code(registry.register({ serviceType: KV, fileDescriptorSet: new Uint8Array([0xff, 0xff, 0xff]) }, bearer(p.token)))) as ConnectError;
    expect(e2.code).toBe(Code.InvalidArgument);
    const other = toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: [create(FileDescriptorProtoSchema, { name: "x.proto", package: "x" })] }));
    const e3 = (await code(registry.register({ serviceType: KV, fileDescriptorSet: other }, bearer(p.token)))) as ConnectError;
    expect(e3.code).toBe(Code.InvalidArgument);
    expect(e3.rawMessage).toMatch(/does not define service kv\.v1\.KVService/);
    expect(await t!.host.store.listRegistrations()).toEqual([]);
  });
});
