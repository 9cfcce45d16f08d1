/**
 * The benchmark's one call on the wire: kv.v1.KVService/Get, as a gRPC-framed request body (for
 * h2load -d) and as a Connect unary body, plus the provider's answer in both framings.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { GetRequestSchema, GetResponseSchema } from "../gen/kv/v1/kv_pb.js";

export const GET_PATH = "/kv.v1.KVService/Get";

export const getRequest = (): Uint8Array => toBinary(GetRequestSchema, create(GetRequestSchema, { key: "bench" }));
export const getResponse = (): Uint8Array =>
  toBinary(GetResponseSchema, create(GetResponseSchema, { key: "bench", value: new Uint8Array(16).fill(7), found: true }));

/** One uncompressed gRPC message frame: flag byte 0, big-endian length, the message. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}
