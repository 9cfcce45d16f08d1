import http2, { type Http2Server } from "node:http2";
import type { Http2Stream } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { PROTOCOLS, clientFactory, expectConnectError, listen, startFront, startProvider, stubRouterOptions } from "./harness.js";

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("router deadlines, cancellation and provider failure", () => {
  let provider: Awaited<ReturnType<typeof startProvider>>;
  let front: Awaited<ReturnType<typeof startFront>>;
  // A provider that accepts streams and never answers.
  let hanging: Http2Server;
  const hangingStreams: Http2Stream[] = [];
  let hangingUrl = "";
  let hangingFront: Awaited<ReturnType<typeof startFront>>;
  let deadFront: Awaited<ReturnType<typeof startFront>>;
  const clients = clientFactory();

  beforeAll(async () => {
    provider = await startProvider();
    front = await startFront(stubRouterOptions(() => provider.url));
    hanging = http2.createServer();
    hanging.on("stream", (s) => hangingStreams.push(s));
    hangingUrl = await listen(hanging);
    hangingFront = await startFront(stubRouterOptions(() => hangingUrl));
    // Port 1 on loopback: nothing listens there.
    deadFront = await startFront(stubRouterOptions(() => "http://127.0.0.1:1"));
  });
  afterAll(async () => {
    clients.close();
    await Promise.all([front.close(), hangingFront.close(), deadFront.close()]);
    for (const s of hangingStreams) s.destroy();
    await new Promise<void>((r) => hanging.close(() => r()));
    await provider.close();
  });

  it.each([
    ["application/grpc+proto", { "grpc-timeout": "200m" }],
    ["application/proto", { "connect-timeout-ms": "200" }],
    ["application/connect+proto", { "connect-timeout-ms": "200" }],
    ["application/grpc-web+proto", { "grpc-timeout": "200m" }],
  ] as const)("router enforces the caller deadline itself (%s) when the provider never answers", async (ct, timeout) => {
    const session = http2.connect(hangingFront.url);
    try {
      const before = hangingStreams.length;
      const req = session.request({
        ":method": "POST",
        ":path": "/kv.v1.KVService/Get",
        "content-type": ct,
        authorization: "Bearer pbrt_alice",
        ...timeout,
      });
      req.end(Buffer.from([0, 0, 0, 0, 0]));
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => req.on("response", resolve));
      await new Promise((r) => req.on("close", r));
      // The provider got the call and never answers: only the router's own deadline can have ended it.
      expect(hangingStreams.length).toBeGreaterThan(before);
      const body = Buffer.concat(chunks).toString("latin1");
      if (ct === "application/grpc+proto") expect(headers["grpc-status"]).toBe(String(Code.DeadlineExceeded));
      else if (ct === "application/proto") {
        expect(headers[":status"]).toBe(504);
        expect(body).toContain('"code":"deadline_exceeded"');
      } else if (ct === "application/connect+proto") expect(body).toContain('"code":"deadline_exceeded"');
      else expect(body).toContain(`grpc-status: ${Code.DeadlineExceeded}`);
      // The provider's stream was cancelled, not left open.
      await until(() => hangingStreams.slice(before).every((s) => s.closed || s.destroyed));
    } finally {
      session.close();
    }
  });

  describe.each(PROTOCOLS)("%s", (protocol) => {
    it("deadline shorter than the provider's work → DeadlineExceeded", async () => {
      const kv = clients.client(protocol, front.url);
      const err = await expectConnectError(kv.get({ key: "slow" }, { timeoutMs: 300 }));
      expect(err.code).toBe(Code.DeadlineExceeded);
    });

    it("caller abort mid server-stream cancels the provider's handler", async () => {
      const kv = clients.client(protocol, front.url);
      const ac = new AbortController();
      const abortedBefore = provider.log.aborted.length;
      const err = await expectConnectError(
        (async () => {
          let n = 0;
          for await (const _ of kv.list({ prefix: "endless", delayMs: 20 }, { signal: ac.signal })) {
            if (++n === 2) ac.abort();
          }
        })(),
      );
      expect(err.code).toBe(Code.Canceled);
      await until(() => provider.log.aborted.length > abortedBefore);
    });

    it("provider dying mid-stream → Unavailable, and the next call reconnects", async () => {
      const own = await startProvider();
      const ownFront = await startFront(stubRouterOptions(() => own.url));
      const ownClients = clientFactory();
      try {
        const kv = ownClients.client(protocol, ownFront.url);
        const got: string[] = [];
        const err = await expectConnectError(
          (async () => {
            for await (const m of kv.list({ prefix: "endless", delayMs: 20 })) {
              got.push(m.key);
              if (got.length === 2) own.killConnections();
            }
          })(),
        );
        expect(err.code).toBe(Code.Unavailable);
        expect(got.slice(0, 2)).toEqual(["endless0", "endless1"]);
        expect((await kv.get({ key: "after" })).caller).toBe("runtime:alice");
      } finally {
        ownClients.close();
        await ownFront.close();
        await own.close();
      }
    });

    it("provider not reachable → Unavailable", async () => {
      const kv = clients.client(protocol, deadFront.url);
      expect((await expectConnectError(kv.get({ key: "a" }))).code).toBe(Code.Unavailable);
    });
  });
});
