/**
 * What a routed call's end tells the router's hooks (metrics, audit): who called what, how it ended,
 * which provider had it (after a safe retry: the one that answered), and for failed calls the request
 * id the audit records name. A safe retry is told once, from and to; it never goes to the same
 * provider, nor to one that would need the protocol bridge the kept request bytes were not made for.
 */
import http2, { type Http2Server } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { HEADER_REQUEST_ID } from "../../../src/protocol/constants.js";
import type { CallEndInfo } from "../../../src/router/index.js";
import { ALL_PROTOCOLS, SIGNING_KEY, clientFactory, expectConnectError, identities, listen, startFront, startProvider, stubRouterOptions } from "./harness.js";

type Retried = { service: string; method: string; from: string; to: string };

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("a routed call's end info", () => {
  let provider: Awaited<ReturnType<typeof startProvider>>;
  let refusing: Http2Server;
  let refusingUrl = "";
  const clients = clientFactory();
  beforeAll(async () => {
    provider = await startProvider();
    refusing = http2.createServer();
    refusing.on("stream", (s) => {
      s.on("error", () => {});
      s.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    });
    refusingUrl = await listen(refusing);
  });
  afterAll(async () => {
    clients.close();
    await new Promise<void>((r) => refusing.close(() => r()));
    await provider.close();
  });

  /** A front whose first resolve answers `first` (runtime A), later ones `next` (runtime `nextId`, speaking `nextProtocols`). */
  async function front(first: string, next: string, nextId = "B", nextProtocols = ALL_PROTOCOLS) {
    const ends: CallEndInfo[] = [];
    const retried: Retried[] = [];
    let resolves = 0;
    const f = await startFront({
      ...stubRouterOptions(() => provider.url),
      onCallEnd: (i) => ends.push(i),
      onCallRetried: (i) => retried.push(i),
      async resolve() {
        const isFirst = resolves++ === 0;
        return isFirst
          ? { runtimeId: "A", registrationId: "ra", endpoint: first, signingKey: SIGNING_KEY, protocols: ALL_PROTOCOLS }
          : { runtimeId: nextId, registrationId: "rb", endpoint: next, signingKey: SIGNING_KEY, protocols: nextProtocols };
      },
    });
    return { f, ends, retried, resolves: () => resolves };
  }

  it("an answered call: service, method, caller, ok, its provider, a duration; no request id", async () => {
    const { f, ends } = await front(provider.url, provider.url, "A");
    try {
      expect((await clients.client("connect", f.url).get({ key: "a" })).caller).toBe("runtime:alice");
      await until(() => ends.length === 1);
      const [end] = ends;
      expect(end).toMatchObject({ service: "kv.v1.KVService", method: "Get", code: "ok", runtimeId: "A", caller: identities["pbrt_alice"] });
      expect(end!.durationMs).toBeGreaterThanOrEqual(0);
      expect("requestId" in end!).toBe(false);
    } finally {
      clients.close();
      await f.close();
    }
  });

  it("a failed call: its code and the caller's request id (a minted one when it sent none)", async () => {
    const { f, ends } = await front(provider.url, provider.url, "A");
    try {
      const kv = clients.client("grpc", f.url, "pbrt_alice", { [HEADER_REQUEST_ID]: "req-42" });
      expect((await expectConnectError(kv.get({ key: "missing" }))).code).toBe(Code.NotFound);
      await expectConnectError(clients.client("grpc", f.url).get({ key: "missing" }));
      await until(() => ends.length === 2);
      expect(ends[0]).toMatchObject({ method: "Get", code: "not_found", runtimeId: "A", requestId: "req-42" });
      expect(ends[1]!.requestId).toMatch(/^req_/);
    } finally {
      clients.close();
      await f.close();
    }
  });

  it("a refused stream goes once to the other provider: told from and to; the end names the one that answered", async () => {
    const { f, ends, retried } = await front(refusingUrl, provider.url);
    try {
      expect((await clients.client("connect", f.url).get({ key: "a" })).caller).toBe("runtime:alice");
      await until(() => ends.length === 1);
      expect(retried).toEqual([{ service: "kv.v1.KVService", method: "Get", from: "A", to: "B" }]);
      expect(ends[0]).toMatchObject({ code: "ok", runtimeId: "B" });
    } finally {
      clients.close();
      await f.close();
    }
  });

  it("no retry to the same provider runtime, nor to one needing the bridge: Unavailable, nothing told", async () => {
    for (const [nextId, protocols] of [["A", ALL_PROTOCOLS], ["B", [1]]] as const) {
      const { f, ends, retried, resolves } = await front(refusingUrl, provider.url, nextId, [...protocols]);
      try {
        expect((await expectConnectError(clients.client("connect", f.url).get({ key: "a" }))).code).toBe(Code.Unavailable);
        await until(() => ends.length === 1);
        expect(resolves()).toBe(2);
        expect(retried).toEqual([]);
        expect(ends[0]).toMatchObject({ code: "unavailable", runtimeId: "A" });
      } finally {
        clients.close();
        await f.close();
      }
    }
  });
});
