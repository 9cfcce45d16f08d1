import { create, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";

/**
 * A copy of `message` that binary codecs write from bytes encoded here, once: its fields are all
 * left at their defaults and its encoding rides along as unknown fields, which protobuf-es's
 * toBinary writes back verbatim (writeUnknownFields is on by default). The same event then goes to
 * a thousand binary watch streams without being encoded a thousand times. JSON ignores unknown
 * fields: JSON streams must get `message` itself.
 */
export function encodedOnce<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): MessageShape<Desc> {
  const bytes = toBinary(schema, message);
  const reader = new BinaryReader(bytes);
  const fields: { no: number; wireType: number; data: Uint8Array }[] = [];
  while (reader.pos < reader.len) {
    const [no, wireType] = reader.tag();
    fields.push({ no, wireType, data: reader.skip(wireType, no) });
  }
  const copy = create(schema) as MessageShape<Desc> & { $unknown?: typeof fields };
  copy.$unknown = fields;
  return copy;
}

/** Whether a request's content type is a binary (protobuf) codec: every Connect, gRPC and gRPC-Web content type without "json". */
export function isBinaryCodec(contentType: string | null): boolean {
  return contentType !== null && !/json/i.test(contentType);
}
