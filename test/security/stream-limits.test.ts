import type * as http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { ExchangeResponseSchema, GetRequestSchema, KVService, type ExchangeRequest } from "../../gen/kv/v1/kv_pb.js";
import { BrokerService } from "../../gen/plugboard/v1/broker_pb.js";
import { HEADER_GRANT } from "../../src/protocol/constants.js";
import type { Capability } from "../../src/host/context.js";
import { createTransports } from "../helpers/transports.js";
import { RegistryService, WatchEventType } from "../../gen/plugboard/v1/registry_pb.js";
import { DEFAULT_LIMITS } from "../../src/protocol/constants.js";
import { bearer } from "../helpers/transports.js";
import { startTestHost, type TestHost } from "../helpers/host.js";
import { startAttackHost, type AttackHost } from "./harness.js";
import { connect, fromAddress, grpcFrame, request, within, type StreamOutcome } from "./h2-streams.js";

/**
 * Hole 7 of issue 12: streams that send headers and never a body (slowloris through open
 * streams) and unauthenticated grpc.health.v1.Health/Watch floods. Streams not yet past
 * authentication must finish their request within limits.requestBodyTimeoutMs, are capped per
 * peer and in total, and Health/Watch streams are capped per peer and in total; legitimate long
 * streams (a Registry Watch, an authenticated streaming routed call) are never cut.
 */
let a: AttackHost | undefined;
let t: TestHost | undefined;
const sessions: http2.ClientHttp2Session[] = [];
const managers: Http2SessionManager[] = [];
afterEach(async () => {
  // node:http2 (v20) loops forever when a client session is destroyed in the same tick as one of its
  // streams' "close" (what the test last awaited): destroy from a fresh macrotask.
  await new Promise((resolve) => setImmediate(resolve));
  for (const s of sessions.splice(0)) s.destroy();
  for (const m of managers.splice(0)) m.abort();
  await a?.close();
  await t?.close();
  a = t = undefined;
});

/** Headers-only requests a slowloris client opens, on host RPCs of every kind (unary, server stream; public or not). */
const SLOW_PATHS: http2.OutgoingHttpHeaders[] = [
  { ":path": "/plugboard.v1.HandshakeService/Handshake", "content-type": "application/json" },
  { ":path": "/grpc.health.v1.Health/Watch", "content-type": "application/connect+json" },
  { ":path": "/plugboard.v1.RegistryService/Watch", "content-type": "application/connect+json" },
  { ":path": "/plugboard.v1.AdminService/ListRuntimes", "content-type": "application/grpc", te: "trailers" },
];

/** The slow paths whose handlers wait for the request before answering (a Registry Watch without token is refused on its headers). */
const BODY_FIRST_PATHS = SLOW_PATHS.filter((h) => !String(h[":path"]).includes("RegistryService"));

function openSlow(url: string, connections: number, streamsEach: number, localAddress?: string, paths = SLOW_PATHS): Promise<StreamOutcome>[] {
  const outcomes: Promise<StreamOutcome>[] = [];
  for (let c = 0; c < connections; c++) {
    const session = connect(url, localAddress);
    sessions.push(session);
    for (let i = 0; i < streamsEach; i++) outcomes.push(request(session, paths[i % paths.length]!).outcome);
  }
  return outcomes;
}

function countSettled<T>(promises: Promise<T>[]): { settled: () => number } {
  let n = 0;
  for (const p of promises) void p.then(() => n++);
  return { settled: () => n };
}

/** The first `n` outcomes to settle, or fewer if the bound passes first. */
function firstSettled<T>(promises: Promise<T>[], n: number, ms: number): Promise<T[]> {
  const done: T[] = [];
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(done.slice()), ms);
    for (const p of promises)
      void p.then((v) => {
        done.push(v);
        if (done.length === n) (clearTimeout(timer), resolve(done.slice()));
      });
  });
}

/** Everything an outcome says about its status, for matching. */
const describeOutcome = (r: StreamOutcome) =>
  `${r.status} ${r.body} grpc-status ${r.headers["grpc-status"] ?? r.trailers["grpc-status"] ?? ""} ${r.headers["grpc-message"] ?? ""}`;

describe("streams that never send their request body", () => {
  it("has a safe default", () => {
    expect(DEFAULT_LIMITS.requestBodyTimeoutMs).toBeGreaterThan(0);
    expect(DEFAULT_LIMITS.requestBodyTimeoutMs).toBeLessThan(120_000); // well under the idle timeout
  });

  it("20 connections × 100 headers-only streams are all ended, while a Registry Watch and an authenticated streaming routed call live on", async () => {
    a = await startAttackHost({ limits: { requestBodyTimeoutMs: 300 } });

    // A legitimate Registry Watch (valid token): its snapshot arrives, then it stays quiet.
    const abort = new AbortController();
    const registry = createClient(RegistryService, a.transports.make("connect"));
    const watch = registry.watch({}, { ...bearer(a.consumer.token), signal: abort.signal })[Symbol.asyncIterator]();
    expect((await watch.next()).value?.type).toBe(WatchEventType.SNAPSHOT);

    // A legitimate routed gRPC call (valid token) whose request message comes only after the flood is over.
    const legit = connect(a.url);
    sessions.push(legit);
    const routed = request(legit, {
      ":path": "/kv.v1.KVService/Get",
      "content-type": "application/grpc+proto",
      te: "trailers",
      authorization: `Bearer ${a.consumer.token}`,
    });

    const flood = openSlow(a.url, 20, 100);
    const progress = countSettled(flood);
    // Generous: on a loaded machine 2000 streams take a while to open and be ended.
    const all = await within(Promise.all(flood), 90_000);
    expect(all, `${progress.settled()} of ${flood.length} slow streams ended`).not.toBe("pending");
    // Each was answered with an error or reset; none succeeded.
    for (const o of all as StreamOutcome[]) expect(o.status === 200 && o.trailers["grpc-status"] === "0").toBe(false);

    // The routed call's stream is still open: its message now goes through to the provider.
    expect(routed.stream.closed).toBe(false);
    routed.stream.end(grpcFrame(toBinary(GetRequestSchema, create(GetRequestSchema, { key: "k" }))));
    const answer = await routed.outcome;
    expect(answer.status).toBe(200);
    expect(answer.trailers["grpc-status"]).toBe("0");

    // The watch is still live: it reports the provider's removal.
    await registry.unregister({ registrationId: a.registrationId }, bearer(a.kvProvider.token));
    expect((await watch.next()).value?.type).toBe(WatchEventType.REMOVED);
    abort.abort();
  }, 150_000);

  it("an authenticated bidi-streaming capability call that idles between messages is not cut", async () => {
    const echo: Capability<typeof KVService> = {
      service: KVService,
      impl: {
        async *exchange(requests) {
          for await (const r of requests) yield create(ExchangeResponseSchema, { text: `echo ${r.text}` });
        },
      },
    };
    t = await startTestHost({ limits: { requestBodyTimeoutMs: 300 }, capabilities: [echo as Capability] });
    const me = await t.handshake({ pluginName: "chatty", capabilities: [KVService.typeName] });
    const transports = createTransports(t.url);
    try {
      const broker = createClient(BrokerService, transports.make("connect"));
      const grant = await broker.requestCapability({ capabilityType: KVService.typeName }, bearer(me.token));
      // The client sends a message, then nothing for longer than requestBodyTimeoutMs, then another.
      const outbox: ExchangeRequest[] = [];
      let wake: (() => void) | undefined;
      let done = false;
      const send = (text: string) => (outbox.push({ text } as ExchangeRequest), wake?.());
      async function* requests() {
        while (!done) {
          const next = outbox.shift();
          if (next) yield next;
          else await new Promise<void>((resolve) => (wake = resolve));
        }
      }
      const kv = createClient(KVService, transports.make("grpc"));
      const replies = kv
        .exchange(requests(), { headers: { authorization: `Bearer ${me.token}`, [HEADER_GRANT]: grant.grantToken } })
        [Symbol.asyncIterator]();
      send("one");
      expect((await replies.next()).value?.text).toBe("echo one");
      // A headers-only stream opened after that first message is ended by the body time limit...
      const session = connect(t.url);
      sessions.push(session);
      const slow = request(session, SLOW_PATHS[0]!).outcome;
      expect(await within(slow, 10_000)).not.toBe("pending");
      // ...while the idle bidi call, older than it, still answers.
      send("two");
      expect((await replies.next()).value?.text).toBe("echo two");
      done = true;
      wake?.();
    } finally {
      transports.close();
    }
  });

  it("a request body that starts but never completes is ended too", async () => {
    t = await startTestHost({ limits: { requestBodyTimeoutMs: 300 } });
    const session = connect(t.url);
    sessions.push(session);
    const { stream, outcome } = request(session, { ":path": "/plugboard.v1.HandshakeService/Handshake", "content-type": "application/json" });
    stream.write('{"magicCookieKey": "PLUG'); // and nothing more
    const o = await within(outcome, 10_000);
    expect(o).not.toBe("pending");
  });
});

describe("streams not yet past authentication are capped per peer and in total", () => {
  it("past unauthenticatedStreamsPerPeer a peer's further streams are refused with resource_exhausted; another peer is served", async () => {
    t = await startTestHost({ limits: { unauthenticatedStreamsPerPeer: 50, requestBodyTimeoutMs: 60_000 } });
    const outcomes = openSlow(t.url, 2, 100, undefined, BODY_FIRST_PATHS);
    const refused = countSettled(outcomes);
    // 150 of the 200 are refused at once; the other 50 are held (until the body timeout, a minute away).
    const settled = await firstSettled(outcomes, 150, 20_000);
    expect(settled).toHaveLength(150);
    for (const r of settled) expect(describeOutcome(r)).toMatch(/resource_exhausted|grpc-status 8/);
    expect(settled.some((r) => describeOutcome(r).includes("unauthenticatedStreamsPerPeer"))).toBe(true);
    expect(refused.settled()).toBe(150);

    // A client at another address is unaffected.
    const manager = new Http2SessionManager(t.url, undefined, fromAddress("127.0.0.2"));
    managers.push(manager);
    const other = createClient(
      (await import("../../gen/plugboard/v1/handshake_pb.js")).HandshakeService,
      createConnectTransport({ baseUrl: t.url, httpVersion: "2", sessionManager: manager }),
    );
    const { handshakeRequest } = await import("../helpers/host.js");
    const res = await other.handshake(handshakeRequest({ pluginName: "elsewhere", enrolmentToken: await t.enrol("elsewhere") }));
    expect(res.runtimeToken).toMatch(/^pbrt_/);
  });

  it("past unauthenticatedStreams (all peers) further streams are refused", async () => {
    t = await startTestHost({ limits: { unauthenticatedStreams: 60, requestBodyTimeoutMs: 60_000 } });
    const outcomes = [...openSlow(t.url, 1, 40, undefined, BODY_FIRST_PATHS), ...openSlow(t.url, 1, 40, "127.0.0.2", BODY_FIRST_PATHS)];
    const counter = countSettled(outcomes);
    const settled = await firstSettled(outcomes, 20, 20_000);
    expect(settled).toHaveLength(20);
    for (const r of settled) expect(describeOutcome(r)).toMatch(/unauthenticatedStreams\b/);
    expect(counter.settled()).toBe(20);
  });
});

describe("grpc.health.v1.Health/Watch streams are capped per peer and in total", () => {
  function healthClient(url: string, localAddress?: string) {
    const manager = new Http2SessionManager(url, undefined, fromAddress(localAddress));
    managers.push(manager);
    return createClient(Health, createConnectTransport({ baseUrl: url, httpVersion: "2", sessionManager: manager }));
  }
  async function openWatch(client: ReturnType<typeof healthClient>, aborts: AbortController[]): Promise<"ok" | Code> {
    const abort = new AbortController();
    aborts.push(abort);
    try {
      await client.watch({ service: "" }, { signal: abort.signal })[Symbol.asyncIterator]().next();
      return "ok";
    } catch (e) {
      return ConnectError.from(e).code;
    }
  }

  it("refuses watches past healthWatchersPerPeer and healthWatchers with ResourceExhausted, and frees slots when watches end", async () => {
    t = await startTestHost({ limits: { healthWatchersPerPeer: 5, healthWatchers: 8 } });
    const aborts: AbortController[] = [];
    const here = healthClient(t.url);
    const there = healthClient(t.url, "127.0.0.2");
    const mine = await Promise.all(Array.from({ length: 5 }, () => openWatch(here, aborts)));
    expect(mine).toEqual(["ok", "ok", "ok", "ok", "ok"]);
    expect(await openWatch(here, aborts)).toBe(Code.ResourceExhausted);
    // Another peer has its own per-peer budget, within the total of 8.
    expect(await Promise.all([openWatch(there, aborts), openWatch(there, aborts), openWatch(there, aborts)])).toEqual(["ok", "ok", "ok"]);
    expect(await openWatch(there, aborts)).toBe(Code.ResourceExhausted);
    // Ending a watch frees its slot (eventually; the server learns of the cancel asynchronously).
    aborts[0]!.abort();
    let code: "ok" | Code = Code.ResourceExhausted;
    for (let i = 0; i < 100 && code !== "ok"; i++) {
      code = await openWatch(there, aborts);
      if (code !== "ok") await new Promise((r) => setTimeout(r, 50));
    }
    expect(code).toBe("ok");
    for (const abort of aborts) abort.abort();
  });
});
