/**
 * The cheap upstream: a raw node:http2 server that answers KVService/Get at once from a constant,
 * in gRPC (framed, grpc-status trailer) or Connect unary (application/proto), and checks nothing —
 * so a proxy in front of it, not the provider, is what saturates. Prints `{"url"}`; stdin line
 * "count" answers `{"calls"}` (calls answered so far); exits when stdin closes.
 */
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import { getResponse, grpcFrame } from "./wire.js";

function main(): void {
  const message = Buffer.from(getResponse());
  const framed = grpcFrame(message);
  let calls = 0;
  const server = http2.createServer({ settings: { maxConcurrentStreams: 1024 } });
  server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    stream.on("error", () => undefined);
    stream.resume(); // the request body is not read: a constant answers every call
    stream.on("end", () => {
      if (stream.destroyed) return;
      calls++;
      if (String(headers["content-type"]).startsWith("application/grpc")) {
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        stream.end(framed);
      } else {
        stream.respond({ ":status": 200, "content-type": "application/proto" });
        stream.end(message);
      }
    });
  });
  server.listen(0, "127.0.0.1", () => {
    console.log(JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  });
  createInterface({ input: process.stdin }).on("line", (line) => {
    if (line.trim() === "count") console.log(JSON.stringify({ calls }));
  });
  process.stdin.on("end", () => process.exit(0));
}

if (process.argv[1]?.endsWith("grpc-upstream.ts")) main();
