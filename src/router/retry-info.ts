import { create, createFileRegistry, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  file_google_protobuf_duration,
} from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";

/*
 * google.rpc.RetryInfo (googleapis/google/rpc/error_details.proto), built at load time from a
 * descriptor so clients and the router share one schema without generating googleapis:
 *   message RetryInfo { google.protobuf.Duration retry_delay = 1; }
 * Any client reads it with `err.findDetails(RetryInfoSchema)`; non-TS clients decode the standard type.
 */
const registry = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "google/rpc/error_details.proto",
    package: "google.rpc",
    dependency: ["google/protobuf/duration.proto"],
    syntax: "proto3",
    messageType: [
      {
        name: "RetryInfo",
        field: [
          {
            name: "retry_delay",
            jsonName: "retryDelay",
            number: 1,
            label: FieldDescriptorProto_Label.OPTIONAL,
            type: FieldDescriptorProto_Type.MESSAGE,
            typeName: ".google.protobuf.Duration",
          },
        ],
      },
    ],
  }),
  (name) => (name === "google/protobuf/duration.proto" ? file_google_protobuf_duration : undefined),
);

interface RetryInfoShape {
  retryDelay?: { seconds: bigint; nanos: number };
}

export const RetryInfoSchema = registry.getMessage("google.rpc.RetryInfo") as DescMessage;
export type RetryInfo = MessageShape<typeof RetryInfoSchema> & RetryInfoShape;

/** Header also set on rate-limit refusals, in whole seconds (HTTP semantics), for clients that ignore details. */
export const HEADER_RETRY_AFTER = "retry-after";

/** ResourceExhausted carrying the retry delay as a google.rpc.RetryInfo detail and a retry-after header. */
export function rateLimitedError(retryAfterMs: number, what = "rate limit exceeded", code = Code.ResourceExhausted): ConnectError {
  const ms = Math.max(1, Math.ceil(retryAfterMs));
  const err = new ConnectError(`${what}, retry after ${ms} ms`, code, {
    [HEADER_RETRY_AFTER]: String(Math.ceil(ms / 1000)),
  });
  err.details.push({
    desc: RetryInfoSchema,
    value: { retryDelay: { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 } } as never,
  });
  return err;
}

/** The retry delay in ms a ResourceExhausted error asks for (RetryInfo detail, else retry-after), or undefined. */
export function retryDelayMs(err: ConnectError): number | undefined {
  const [info] = err.findDetails(RetryInfoSchema) as RetryInfoShape[];
  if (info?.retryDelay) return Number(info.retryDelay.seconds) * 1000 + Math.round(info.retryDelay.nanos / 1_000_000);
  const header = err.metadata.get(HEADER_RETRY_AFTER);
  if (header !== null && /^\d+$/.test(header)) return Number(header) * 1000;
  return undefined;
}
