import { Code, ConnectError } from "@connectrpc/connect";
import { Protocol } from "../../gen/plugboard/v1/common_pb.js";

/** A registration's declared protocols, deduplicated; unknown values are InvalidArgument. */
export function validProtocols(declared: readonly Protocol[]): number[] {
  const out = new Set<number>();
  for (const p of declared) {
    if (p !== Protocol.GRPC && p !== Protocol.GRPC_WEB && p !== Protocol.CONNECT) {
      throw new ConnectError(`protocols: unknown protocol ${p} (GRPC, GRPC_WEB or CONNECT)`, Code.InvalidArgument);
    }
    out.add(p);
  }
  return [...out].sort();
}
