/**
 * The floor: a bare node:http2 passthrough on the raw `stream` event API, with no checks at all —
 * headers, body and trailers piped to one upstream session. Usage: `bare-passthrough.ts <upstream-url>`;
 * prints `{"url"}`; exits when stdin closes.
 */
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { startAllocationProfile } from "./alloc-profile.js";

async function main(): Promise<void> {
  const allocationProfileWritten = await startAllocationProfile();
  const upstream = http2.connect(process.argv[2]!);
  upstream.on("error", (e) => console.error("bare-passthrough upstream:", e.message));
  const server = http2.createServer({ settings: { maxConcurrentStreams: 1024 } });
  server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    const { ":method": method, ":path": path, "content-type": type, te } = headers;
    const out = upstream.request({ ":method": method!, ":path": path!, "content-type": type!, ...(te ? { te: String(te) } : {}) });
    stream.pipe(out);
    let trailers: http2.OutgoingHttpHeaders = {};
    out.on("trailers", (t) => (trailers = { ...t }));
    out.on("response", (h) => {
      const { ":status": status, "content-type": ct } = h;
      const grpc = String(ct).startsWith("application/grpc"); // only gRPC ends with trailers
      stream.respond({ ":status": status, ...(ct ? { "content-type": ct } : {}) }, { waitForTrailers: grpc });
      if (grpc) stream.once("wantTrailers", () => stream.sendTrailers(trailers));
      out.pipe(stream);
    });
    out.on("error", () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
    stream.on("error", () => out.close(http2.constants.NGHTTP2_CANCEL));
  });
  server.listen(0, "127.0.0.1", () => {
    console.log(JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  });
  process.stdin.on("end", () => void allocationProfileWritten().finally(() => process.exit(0))).resume();
}

if (process.argv[1]?.endsWith("bare-passthrough.ts")) await main();
