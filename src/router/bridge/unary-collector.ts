import { Code, ConnectError } from "@connectrpc/connect";
import { EnvelopeScanner } from "../envelope-scanner.js";

/**
 * Buffers a unary gRPC response (a Connect unary answer needs the status before its first
 * byte). Bounded: more than `maxBytes` of payload is refused.
 */
export class UnaryCollector {
  private chunks: Buffer[] = [];
  private total = 0;
  constructor(private readonly maxBytes: number) {}

  push(chunk: Buffer): boolean {
    this.total += chunk.length;
    if (this.total > this.maxBytes + 5) return false;
    this.chunks.push(chunk);
    return true;
  }

  /** The one response message, or the protocol error a unary call without exactly one is. */
  single(): { payload: Buffer; compressed: boolean } | ConnectError {
    const body = Buffer.concat(this.chunks);
    const scanner = new EnvelopeScanner(Number.MAX_SAFE_INTEGER);
    if (body.length < 5 || !scanner.push(body) || !scanner.atBoundary) {
      return new ConnectError("protocol error: missing output message for unary method", Code.Unimplemented);
    }
    const length = body.readUInt32BE(1);
    if (body.length !== 5 + length) {
      return new ConnectError("protocol error: received extra output message for unary method", Code.Unimplemented);
    }
    return { payload: body.subarray(5), compressed: (body[0]! & 1) !== 0 };
  }
}
