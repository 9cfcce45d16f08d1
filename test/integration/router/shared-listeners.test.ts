import * as http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRouter } from "../../../src/router/index.js";
import { clientFactory, listen, PROTOCOLS, startProvider, stubRouterOptions } from "./harness.js";

/*
 * The forwarding state machine keeps a call's state on one object and listens with shared
 * functions (src/router/forwarded-call.ts): two calls' caller streams carry the very same listener
 * functions, and a call whose buffers never fill gets no drain listener at all. A closure per call
 * (the cost this guards against) would show as different function objects.
 */
describe("forwarded calls listen with shared functions", () => {
  let provider: Awaited<ReturnType<typeof startProvider>>;
  let server: http2.Http2Server;
  let url: string;
  let router: ReturnType<typeof createRouter>;
  const streams: http2.ServerHttp2Stream[] = [];
  const clients = clientFactory();

  beforeAll(async () => {
    provider = await startProvider();
    router = createRouter(stubRouterOptions(() => provider.url));
    server = http2.createServer();
    server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
      streams.push(stream);
      router.handleStream(stream, headers);
    });
    url = await listen(server);
  });
  afterAll(async () => {
    clients.close();
    await router.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await provider.close();
  });

  it.each(PROTOCOLS)("%s: the same listener functions on every call's stream, no drain listener", async (protocol) => {
    const kv = clients.client(protocol, url);
    streams.length = 0;
    await kv.put({ key: "a", value: new Uint8Array([1]) });
    await kv.get({ key: "a" });
    expect(streams).toHaveLength(2);
    const [first, second] = streams as [http2.ServerHttp2Stream, http2.ServerHttp2Stream];
    // node adds some listeners of its own depending on the stream's state (`[kMaybeDestroy]`, bound or not): only the router's are compared.
    const routers = (stream: http2.ServerHttp2Stream, event: string) => stream.listeners(event).filter((f) => !/^(bound )?\[/.test(f.name));
    for (const event of ["data", "end", "close", "wantTrailers"]) {
      const a = routers(first, event);
      const b = routers(second, event);
      expect(a.length, event).toBeGreaterThan(0);
      expect(a.length, event).toBe(b.length);
      expect(a.every((listener, i) => listener === b[i]), `${event} listeners are shared`).toBe(true);
    }
    expect(first.listenerCount("drain")).toBe(0);
    expect(second.listenerCount("drain")).toBe(0);
  });
});
