import * as http2 from "node:http2";

/** What became of a request stream opened with node:http2. */
export interface StreamOutcome {
  status?: number;
  /** RST_STREAM code (0 when the stream ended normally). */
  rstCode: number;
  body: string;
  trailers: http2.IncomingHttpHeaders;
  headers: http2.IncomingHttpHeaders;
}

/** Connects with node:http2; `localAddress` picks the client's source address (127.0.0.2 is another peer). */
export function connect(url: string, localAddress?: string): http2.ClientHttp2Session {
  const session = http2.connect(url, fromAddress(localAddress));
  session.on("error", () => undefined);
  return session;
}

/** Session options binding the client to a source address (node passes net.connect options through; @types omit them). */
export function fromAddress(localAddress: string | undefined): http2.ClientSessionOptions {
  return (localAddress ? { localAddress } : {}) as http2.ClientSessionOptions;
}

/** Opens a request; without `body` the request stays open (headers only, never a body: slowloris). */
export function request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: string | Uint8Array,
): { stream: http2.ClientHttp2Stream; outcome: Promise<StreamOutcome> } {
  const stream = session.request({ ":method": "POST", ...headers }, { endStream: false });
  stream.on("error", () => undefined);
  if (body !== undefined) stream.end(body);
  const outcome = new Promise<StreamOutcome>((resolve) => {
    const out: StreamOutcome = { rstCode: 0, body: "", trailers: {}, headers: {} };
    stream.on("response", (h) => ((out.status = Number(h[":status"])), (out.headers = h)));
    stream.on("trailers", (t) => (out.trailers = t));
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => (out.body += chunk));
    stream.on("close", () => resolve({ ...out, rstCode: stream.rstCode ?? 0 }));
  });
  return { stream, outcome };
}

/** Resolves with the value, or "pending" if it did not settle within `ms` (a generous bound, not a timing claim). */
export function within<T>(promise: Promise<T>, ms: number): Promise<T | "pending"> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("pending"), ms);
    void promise.then((v) => (clearTimeout(timer), resolve(v)));
  });
}

/** A gRPC length-prefixed message (uncompressed). */
export function grpcFrame(message: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}
