import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { forwardCall } from "../src/router/forward.js";
import { createUpstreamPool } from "../src/router/upstream-pool.js";
import { detectProtocol } from "../src/router/wire-protocol.js";
import { built } from "./built.js";

/** The router's forwarding core: from src/ (in-process users) or compiled (the bench's child, bench/built.ts). */
interface ForwardingCore {
  forwardCall: typeof forwardCall;
  createUpstreamPool: typeof createUpstreamPool;
  detectProtocol: typeof detectProtocol;
}
const SOURCE_CORE: ForwardingCore = { forwardCall, createUpstreamPool, detectProtocol };

/**
 * The benchmark baseline: a bare HTTP/2 passthrough proxy to one fixed provider, sharing the
 * router's forwarding core (pooled session, byte piping, trailers) but with no authentication,
 * policy, rate limit, caller signing, deadline or size checks. Router throughput is reported as
 * a ratio of this one, so the difference is exactly the cost of the checks.
 */
export function createBareProxy(opts: { endpoint: string }, core: ForwardingCore = SOURCE_CORE) {
  const { forwardCall, createUpstreamPool, detectProtocol } = core;
  const pool = createUpstreamPool();
  const target = pool.target(opts.endpoint);
  return {
    handle(req: Http2ServerRequest, _res: Http2ServerResponse): void {
      const protocol = detectProtocol(req.headers["content-type"], req.headers[":method"]) ?? "connect-unary";
      forwardCall(pool, {
        stream: req.stream,
        headers: req.headers,
        protocol,
        target,
        path: req.headers[":path"] ?? "/",
        callerHeader: undefined,
        timeoutMs: undefined,
        maxMessageBytes: Infinity,
        maxResponseMessageBytes: Infinity,
        onEnd: undefined,
      });
    },
    close: () => pool.close(),
  };
}

/** Run standalone: `tsx bench/proxy-baseline.ts <provider-endpoint> [port]` prints `{"url"}`; exits when stdin closes. */
async function main(): Promise<void> {
  const [endpoint, port] = process.argv.slice(2);
  if (endpoint === undefined) throw new Error("usage: proxy-baseline.ts <provider-endpoint> [port]");
  const { createServer } = await import("node:http2");
  // Compiled, like the router host it is compared with (bench/built.ts).
  const core: ForwardingCore = {
    ...((await import(built("src/router/forward.js"))) as typeof import("../src/router/forward.js")),
    ...((await import(built("src/router/upstream-pool.js"))) as typeof import("../src/router/upstream-pool.js")),
    ...((await import(built("src/router/wire-protocol.js"))) as typeof import("../src/router/wire-protocol.js")),
  };
  const proxy = createBareProxy({ endpoint }, core);
  const server = createServer((req, res) => proxy.handle(req, res));
  server.listen(Number(port ?? 0), "127.0.0.1", () => {
    const addr = server.address();
    console.log(JSON.stringify({ url: `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : port}` }));
  });
  process.stdin.on("end", () => process.exit(0)).resume();
}

if (process.argv[1]?.endsWith("proxy-baseline.ts")) await main();
