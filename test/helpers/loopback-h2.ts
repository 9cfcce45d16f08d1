import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll } from "vitest";

export type StreamHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;

/**
 * A real HTTP/2 server on loopback for the file's tests, and one client session to it: each test sets
 * `handler` (what the server does with the next stream) and opens streams on `session`.
 */
export function useLoopbackH2(): { handler: StreamHandler; readonly session: http2.ClientHttp2Session } {
  let server: http2.Http2Server;
  let session: http2.ClientHttp2Session;
  const loopback = {
    handler: (() => undefined) as StreamHandler,
    get session() {
      return session;
    },
  };
  beforeAll(async () => {
    server = http2.createServer();
    server.on("stream", (stream, headers) => loopback.handler(stream as ServerHttp2Stream, headers));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  afterAll(async () => {
    // node:http2 can spin if a session is closed in the same tick a stream of it closed.
    await new Promise<void>((resolve) => setImmediate(resolve));
    session.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return loopback;
}
