/**
 * Issue 20: one safe retry in the router. A call whose provider could not even be connected to has
 * reached no provider, so it goes once to another one; a call a provider may have seen is never retried.
 */
import http2, { type Http2Server } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { PROTOCOLS, SIGNING_KEY, clientFactory, expectConnectError, listen, startFront, startProvider, stubRouterOptions } from "./harness.js";

describe("one safe retry", () => {
  let provider: Awaited<ReturnType<typeof startProvider>>;
  // Accepts a call's stream, then drops its connection: the request may have been processed.
  let accepting: Http2Server;
  let acceptingUrl = "";
  const clients = clientFactory();

  beforeAll(async () => {
    provider = await startProvider();
    accepting = http2.createServer();
    accepting.on("stream", (s) => s.session?.destroy());
    acceptingUrl = await listen(accepting);
  });
  afterAll(async () => {
    clients.close();
    await new Promise<void>((r) => accepting.close(() => r()));
    await provider.close();
  });

  /** A front whose resolver hands out `endpoints` in turn, counting its answers. */
  async function frontOver(endpoints: string[]) {
    let n = 0;
    const base = stubRouterOptions(() => provider.url);
    const front = await startFront({
      ...base,
      async resolve() {
        return { runtimeId: `p${n}`, registrationId: `r${n}`, endpoint: endpoints[n++ % endpoints.length]!, signingKey: SIGNING_KEY };
      },
    });
    return { front, resolved: () => n };
  }

  describe.each(PROTOCOLS)("%s", (protocol) => {
    it("a provider that refuses the connection → the call goes to another provider, once", async () => {
      const { front, resolved } = await frontOver(["http://127.0.0.1:1", provider.url]);
      try {
        const kv = clients.client(protocol, front.url);
        expect((await kv.get({ key: "a" })).caller).toBe("runtime:alice");
        expect(resolved()).toBe(2);
      } finally {
        clients.close();
        await front.close();
      }
    });

    it("two unreachable providers → Unavailable after one retry (never more)", async () => {
      const { front, resolved } = await frontOver(["http://127.0.0.1:1"]);
      try {
        const kv = clients.client(protocol, front.url);
        expect((await expectConnectError(kv.get({ key: "a" }))).code).toBe(Code.Unavailable);
        expect(resolved()).toBe(2);
      } finally {
        clients.close();
        await front.close();
      }
    });

    it("a provider that accepted the call and died → Unavailable, not retried", async () => {
      const { front, resolved } = await frontOver([acceptingUrl, provider.url]);
      try {
        const kv = clients.client(protocol, front.url);
        expect((await expectConnectError(kv.get({ key: "a" }))).code).toBe(Code.Unavailable);
        expect(resolved()).toBe(1);
      } finally {
        clients.close();
        await front.close();
      }
    });
  });
});
