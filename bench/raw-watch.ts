/**
 * A Watch stream read over node:http2 directly (Connect streaming, binary): the request framed by
 * hand, each response frame decoded with protobuf-es. The cheapest honest watcher, for the scale
 * curve's watchers process: what it measures is then the host's fan-out, not a thousand connect-es
 * client pipelines sharing one process and one core (in a deployment each watcher is a plugin
 * process of its own). Every event is still fully decoded.
 */
import * as http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { WatchRequestSchema, WatchResponseSchema, type WatchResponse } from "../gen/plugboard/v1/registry_pb.js";

const END_STREAM_FLAG = 0b10;

/** Opens one Watch on `session`; `onEvent` gets each message; resolves when the stream closes (rejects on a bad status or an error end). */
export function rawWatch(session: http2.ClientHttp2Session, token: string, serviceTypes: string[], onEvent: (event: WatchResponse) => void): Promise<void> {
  const body = toBinary(WatchRequestSchema, create(WatchRequestSchema, { serviceTypes }));
  const request = Buffer.allocUnsafe(5 + body.byteLength);
  request.writeUInt8(0, 0);
  request.writeUInt32BE(body.byteLength, 1);
  request.set(body, 5);
  const stream = session.request({
    ":method": "POST",
    ":path": "/plugboard.v1.RegistryService/Watch",
    "content-type": "application/connect+proto",
    "connect-protocol-version": "1",
    authorization: `Bearer ${token}`,
  });
  stream.end(request);
  return new Promise<void>((resolve, reject) => {
    let pending: Buffer = Buffer.alloc(0);
    stream.on("response", (headers) => {
      if (headers[":status"] !== 200) reject(new Error(`watch answered HTTP ${headers[":status"]}`));
    });
    stream.on("data", (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let offset = 0;
      while (pending.length - offset >= 5) {
        const length = pending.readUInt32BE(offset + 1);
        if (pending.length - offset - 5 < length) break;
        const message = pending.subarray(offset + 5, offset + 5 + length);
        if (pending.readUInt8(offset) & END_STREAM_FLAG) {
          const end = JSON.parse(message.toString()) as { error?: { code: string } };
          if (end.error) reject(new Error(`watch ended with ${end.error.code}`));
        } else onEvent(fromBinary(WatchResponseSchema, message));
        offset += 5 + length;
      }
      pending = pending.subarray(offset);
    });
    stream.on("error", reject);
    stream.on("close", () => resolve());
  });
}
