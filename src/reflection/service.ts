import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, type ServiceImpl } from "@connectrpc/connect";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import type { DescriptorPool } from "./pool.js";

type Request = v1.ServerReflectionRequest;
type Response = v1.ServerReflectionResponse;

/** One reflection answer; the v1 and v1alpha messages have the same shape. */
function answer(pool: DescriptorPool, req: Request): Response["messageResponse"] {
  const files = (bytes: Uint8Array[] | undefined, what: string): Response["messageResponse"] =>
    bytes
      ? { case: "fileDescriptorResponse", value: create(v1.FileDescriptorResponseSchema, { fileDescriptorProto: bytes }) }
      : { case: "errorResponse", value: create(v1.ErrorResponseSchema, { errorCode: Code.NotFound, errorMessage: `${what} not found` }) };
  const r = req.messageRequest;
  switch (r.case) {
    case "listServices":
      return {
        case: "listServicesResponse",
        value: create(v1.ListServiceResponseSchema, { service: pool.listServices().map((name) => ({ name })) }),
      };
    case "fileByFilename":
      return files(pool.fileByName(r.value), `file ${r.value}`);
    case "fileContainingSymbol":
      return files(pool.fileContainingSymbol(r.value), `symbol ${r.value}`);
    case "fileContainingExtension":
    case "allExtensionNumbersOfType":
      return { case: "errorResponse", value: create(v1.ErrorResponseSchema, { errorCode: Code.Unimplemented, errorMessage: "extensions are not indexed" }) };
    default:
      return { case: "errorResponse", value: create(v1.ErrorResponseSchema, { errorCode: Code.InvalidArgument, errorMessage: "empty request" }) };
  }
}

/** grpc.reflection.v1.ServerReflection over the pool. */
export function createReflectionV1(pool: DescriptorPool): ServiceImpl<typeof v1.ServerReflection> {
  return {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) {
        yield create(v1.ServerReflectionResponseSchema, { validHost: req.host, originalRequest: req, messageResponse: answer(pool, req) });
      }
    },
  };
}

/** grpc.reflection.v1alpha.ServerReflection (older clients): the same answers; the messages are wire-identical. */
export function createReflectionV1alpha(pool: DescriptorPool): ServiceImpl<typeof v1alpha.ServerReflection> {
  return {
    async *serverReflectionInfo(requests) {
      for await (const alpha of requests) {
        const req = fromBinary(v1.ServerReflectionRequestSchema, toBinary(v1alpha.ServerReflectionRequestSchema, alpha));
        const res = create(v1.ServerReflectionResponseSchema, { validHost: req.host, originalRequest: req, messageResponse: answer(pool, req) });
        yield fromBinary(v1alpha.ServerReflectionResponseSchema, toBinary(v1.ServerReflectionResponseSchema, res));
      }
    },
  };
}
