/** A registration's declared protocols: known ones, deduplicated and sorted; anything else is InvalidArgument. */
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { Protocol } from "../../../gen/plugboard/v1/common_pb.js";
import { validProtocols } from "../../../src/registry/protocols.js";

describe("validProtocols", () => {
  it("keeps each known protocol once, in enum order", () => {
    expect(validProtocols([Protocol.CONNECT, Protocol.GRPC, Protocol.CONNECT, Protocol.GRPC_WEB])).toEqual([1, 2, 3]);
    expect(validProtocols([Protocol.GRPC_WEB])).toEqual([2]);
  });

  it.each([[Protocol.UNSPECIFIED], [4], [-1]])("refuses %s, naming it", (p) => {
    try {
      validProtocols([Protocol.GRPC, p]);
      expect.unreachable();
    } catch (e) {
      const err = ConnectError.from(e);
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.rawMessage).toBe(`protocols: unknown protocol ${p} (GRPC, GRPC_WEB or CONNECT)`);
    }
  });
});
