import type * as http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import type { FannedEvent } from "./watch-hub.js";
import type { BoundedQueue } from "./watch-queue.js";

/**
 * Writes a watch's events to its HTTP/2 stream as the frames encoded once for every watcher (see
 * FannedEvent.frame), each in the hub's delivery turn: no promise, generator, interceptor wrapper
 * or serialization per stream and event. Through connect-es each event cost a thousand watchers
 * about a hundred microseconds apiece of host CPU (most of it that machinery and its garbage).
 *
 * Everything else stays as it was. The queue applies the same bound: a write that fills the
 * stream's buffer (the watcher is not reading, flow control pushed back) stops the writes, later
 * events queue until the stream drains, and past `watchBuffer` of them the watch fails with
 * ResourceExhausted. The returned promise settles as the queue does: resolved when the watch ends
 * (the request's signal: client gone, credential ended, deadline), rejected with the queue's
 * failure (too far behind, the watching runtime ended), so the handler returns or throws and
 * connect-es writes the stream's end (Connect end-stream message, gRPC trailers, gRPC-Web trailer
 * frame) after every frame written here.
 */
export async function forwardFrames(
  queue: BoundedQueue<FannedEvent>,
  stream: http2.ServerHttp2Stream,
  isNews: (fanned: FannedEvent) => boolean,
  maxMessageBytes: number,
): Promise<void> {
  const resume = () => queue.resume();
  stream.on("drain", resume);
  try {
    await queue.forward((fanned) => {
      if (!isNews(fanned)) return true;
      const frame = fanned.frame();
      if (frame.byteLength - 5 > maxMessageBytes) {
        // As connect-es's writeMaxBytes would have it (a registration's limits keep its events far below).
        queue.fail(new ConnectError(`watch event of ${frame.byteLength - 5} bytes exceeds limits.maxMessageBytes (${maxMessageBytes})`, Code.ResourceExhausted));
        return true;
      }
      // A stream gone is noticed through the request's signal, which ends the queue.
      if (stream.destroyed || stream.writableEnded) return true;
      try {
        return stream.write(frame);
      } catch (error) {
        // This runs inside the hub's fan-out: one broken stream must not stop the others' delivery.
        queue.fail(new ConnectError("watch stream write failed", Code.Internal, undefined, undefined, error));
        return true;
      }
    });
  } finally {
    stream.off("drain", resume);
  }
}
