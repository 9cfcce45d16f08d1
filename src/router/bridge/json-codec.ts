import { gunzipSync } from "node:zlib";
import { fromBinary, fromJsonString, toBinary, toJsonString, type DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";

/** The request and response message types of one method, from descriptors its provider registered. */
export interface MethodSchema {
  input: DescMessage;
  output: DescMessage;
}

/**
 * JSON ⇄ binary for a gRPC-only provider, possible only with its schema (a registration's
 * file_descriptor_set). This is the one place the bridge decodes payloads.
 */
export class JsonCodec {
  constructor(private readonly schema: MethodSchema) {}

  /** A caller's JSON request message → protobuf binary. InvalidArgument when it does not parse. */
  request(json: Uint8Array, gzipped: boolean): Uint8Array {
    try {
      const text = Buffer.from(gzipped ? gunzipSync(json) : json).toString("utf8");
      return toBinary(this.schema.input, fromJsonString(this.schema.input, text));
    } catch (e) {
      throw new ConnectError(`request message is not valid JSON for ${this.schema.input.typeName}: ${e instanceof Error ? e.message : String(e)}`, Code.InvalidArgument);
    }
  }

  /** A provider's binary response message → JSON. Internal when it does not decode. */
  response(binary: Uint8Array, gzipped: boolean): Buffer {
    try {
      const bytes = gzipped ? gunzipSync(binary) : binary;
      return Buffer.from(toJsonString(this.schema.output, fromBinary(this.schema.output, bytes)), "utf8");
    } catch {
      throw new ConnectError(`provider answered a message that is not a ${this.schema.output.typeName}`, Code.Internal);
    }
  }
}

/** Collects complete envelopes (flags, payload) from a byte stream; refuses any over `maxBytes`. */
export class EnvelopeReader {
  private buffered: Buffer = Buffer.alloc(0);
  constructor(private readonly maxBytes: number) {}

  /** Complete envelopes so far, or false when one announces more than maxBytes. */
  push(chunk: Buffer): { flags: number; payload: Buffer }[] | false {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const out: { flags: number; payload: Buffer }[] = [];
    while (this.buffered.length >= 5) {
      const length = this.buffered.readUInt32BE(1);
      if (length > this.maxBytes) return false;
      if (this.buffered.length < 5 + length) break;
      out.push({ flags: this.buffered[0]!, payload: this.buffered.subarray(5, 5 + length) });
      this.buffered = this.buffered.subarray(5 + length);
    }
    return out;
  }

  get atBoundary(): boolean {
    return this.buffered.length === 0;
  }
}
