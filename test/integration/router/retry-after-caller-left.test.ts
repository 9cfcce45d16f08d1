/**
 * A safe retry whose caller leaves while the router looks for the next provider: the call has ended,
 * so the retry must not be reported (the launcher's in-flight counts would take the first provider
 * down twice and keep the second one busy for ever, and replace() would wait on it). And a call whose
 * credential ends meanwhile is answered at once, not when a slow store read of the retry comes back.
 */
import http2, { type Http2Server } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { createInFlightCounter } from "../../../src/launcher/in-flight.js";
import { SIGNING_KEY, clientFactory, listen, startFront, startProvider, stubRouterOptions } from "./harness.js";

describe("a safe retry after the caller left", () => {
  let healthy: Awaited<ReturnType<typeof startProvider>>;
  let refusing: Http2Server;
  let refusingUrl = "";
  const clients = clientFactory();

  beforeAll(async () => {
    healthy = await startProvider();
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
    await healthy.close();
  });

  it("is not reported: every provider's in-flight count is back to zero", async () => {
    const inFlight = createInFlightCounter();
    const ended: string[] = [];
    let resolves = 0;
    let retargetAsked!: () => void;
    const retargetPending = new Promise<void>((r) => (retargetAsked = r));
    let answerRetarget!: () => void;
    const retargetAnswered = new Promise<void>((r) => (answerRetarget = r));
    const front = await startFront({
      ...stubRouterOptions(() => healthy.url),
      onCallStart: inFlight.onCallStart,
      onCallRetried: inFlight.onCallRetried,
      onCallEnd: (info) => {
        inFlight.onCallEnd(info);
        ended.push(`${info.runtimeId}:${info.code}`);
      },
      async resolve() {
        if (resolves++ === 0) return { runtimeId: "A", registrationId: "ra", endpoint: refusingUrl, signingKey: SIGNING_KEY };
        retargetAsked();
        await retargetAnswered; // the store read of the retry, slow
        return { runtimeId: "B", registrationId: "rb", endpoint: healthy.url, signingKey: SIGNING_KEY };
      },
    });
    try {
      const abort = new AbortController();
      const call = clients.client("grpc", front.url).get({ key: "a" }, { signal: abort.signal }).catch(() => "aborted");
      await retargetPending;
      abort.abort();
      expect(await call).toBe("aborted");
      await expect.poll(() => ended, { timeout: 10_000 }).toEqual(["A:canceled"]);
      answerRetarget();
      // The retry's continuation (microtasks after the resolver's answer) has run by the next macrotask.
      await new Promise((r) => setImmediate(r));
      expect([inFlight.count("A"), inFlight.count("B")]).toEqual([0, 0]);
      expect(ended).toEqual(["A:canceled"]);
    } finally {
      answerRetarget();
      clients.close();
      await front.close();
    }
  });

  it.each([
    { name: "forwarded", protocol: "grpc" as const, protocols: undefined },
    { name: "bridged (Connect caller, gRPC-only providers)", protocol: "connect" as const, protocols: [1] },
  ])("$name: a call whose credential ends while its next provider is looked up is answered at once", async ({ protocol, protocols }) => {
    let endCredential: ((error: ConnectError) => void) | undefined;
    let resolves = 0;
    let retargetAsked!: () => void;
    const retargetPending = new Promise<void>((r) => (retargetAsked = r));
    let answerRetarget!: () => void;
    const retargetAnswered = new Promise<void>((r) => (answerRetarget = r));
    const ended: string[] = [];
    const front = await startFront({
      ...stubRouterOptions(() => healthy.url),
      watchCaller: (_caller, onEnd) => ((endCredential = onEnd), () => undefined),
      onCallEnd: (info) => void ended.push(`${info.runtimeId}:${info.code}`),
      async resolve() {
        const declared = protocols ? { protocols } : {};
        if (resolves++ === 0) return { runtimeId: "A", registrationId: "ra", endpoint: refusingUrl, signingKey: SIGNING_KEY, ...declared };
        retargetAsked();
        await retargetAnswered; // a store read that does not come back (a Redis outage)
        return { runtimeId: "B", registrationId: "rb", endpoint: healthy.url, signingKey: SIGNING_KEY, ...declared };
      },
    });
    try {
      const call = clients.client(protocol, front.url).get({ key: "a" }).catch((e: unknown) => ConnectError.from(e));
      await retargetPending;
      endCredential!(new ConnectError("credential revoked", Code.Unauthenticated));
      const answer = await call;
      expect(answer).toBeInstanceOf(ConnectError);
      expect((answer as ConnectError).code).toBe(Code.Unauthenticated);
      expect(ended).toEqual(["A:unauthenticated"]);
    } finally {
      answerRetarget();
      clients.close();
      await front.close();
    }
  });
});
