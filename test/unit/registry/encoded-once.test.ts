/**
 * A watch event encoded once for every binary stream: the copy writes exactly the original's bytes, and
 * only binary codecs get it. Written against `npm run mutate -- registry` (docs/testing.md).
 */
import { create, toBinary, toJson } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { RegistrationSchema } from "../../../gen/plugboard/v1/common_pb.js";
import { RemovalReason, WatchEventType, WatchResponseSchema } from "../../../gen/plugboard/v1/registry_pb.js";
import { encodedOnce, isBinaryCodec } from "../../../src/registry/encoded-once.js";

describe("encodedOnce", () => {
  it("writes the same bytes as the message, every field and entry included", () => {
    const message = create(WatchResponseSchema, {
      type: WatchEventType.REMOVED,
      removalReason: RemovalReason.RUNTIME_REVOKED,
      registrations: [
        create(RegistrationSchema, { registrationId: "rg_1", serviceType: "kv.v1.Kv", metadata: { zone: "é\u0001" }, weight: 7, protocols: [1, 3] }),
        create(RegistrationSchema, { registrationId: "rg_2" }),
      ],
      snapshotComplete: true,
    });
    const copy = encodedOnce(WatchResponseSchema, message);
    expect(toBinary(WatchResponseSchema, copy)).toEqual(toBinary(WatchResponseSchema, message));
    // Its own fields stay at their defaults: JSON codecs must get the message itself.
    expect(copy.type).toBe(WatchEventType.UNSPECIFIED);
    expect(copy.registrations).toEqual([]);
    expect(toJson(WatchResponseSchema, copy)).toEqual({});
  });

  it("an empty message stays empty", () => {
    const copy = encodedOnce(WatchResponseSchema, create(WatchResponseSchema));
    expect(toBinary(WatchResponseSchema, copy)).toEqual(new Uint8Array(0));
  });
});

describe("isBinaryCodec", () => {
  it.each([
    ["application/proto", true],
    ["application/grpc", true],
    ["application/grpc+proto", true],
    ["application/grpc-web+proto", true],
    ["application/connect+proto", true],
    ["application/json", false],
    ["application/connect+JSON", false],
    ["application/grpc-web+json; charset=utf-8", false],
  ])("%s: %s", (contentType, binary) => {
    expect(isBinaryCodec(contentType)).toBe(binary);
  });

  it("no content type is not binary", () => {
    expect(isBinaryCodec(null)).toBe(false);
  });
});
