import http2, { type ServerHttp2Stream } from "node:http2";

const { NGHTTP2_NO_ERROR } = http2.constants;

/**
 * Once the caller has its answer, the rest of its request is unwanted. Discard what arrives (a
 * paused request would leave an uploading client hanging until its own deadline) and, when the
 * answer needs no HTTP trailers still to be sent, reset the stream with NO_ERROR after the answer
 * is flushed (RFC 9113 §8.1) so the client stops uploading.
 */
export function releaseRequest(stream: ServerHttp2Stream, reset: boolean): void {
  if (stream.destroyed || stream.closed) return;
  stream.resume();
  if (!reset) return;
  const resetIfUnfinished = () => {
    if (!stream.readableEnded && !stream.closed && !stream.destroyed) stream.close(NGHTTP2_NO_ERROR);
  };
  if (stream.writableFinished) resetIfUnfinished();
  else stream.once("finish", resetIfUnfinished);
}
