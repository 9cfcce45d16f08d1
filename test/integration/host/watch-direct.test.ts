import * as http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { RegistryService, RemovalReason, WatchEventType, WatchRequestSchema, WatchResponseSchema, type WatchResponse } from "../../../gen/plugboard/v1/registry_pb.js";
import { bearer, createTransports, PROTOCOLS } from "../../helpers/transports.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";

/**
 * Watch events on binary HTTP/2 streams are written straight to the stream as frames encoded once
 * (src/registry/forward-frames.ts), after the snapshot went through connect-es. Every behaviour of
 * the stream must hold on that path, for each protocol: order (snapshot, then events, each once),
 * the end when the credential ends (Unauthenticated) or the watching runtime ends, the cut-off of a
 * watcher that stops reading (ResourceExhausted), and the stream's end written after the frames.
 */
const KV = "kv.v1.KVService";
const provides = (port: number) => ({ pluginName: `kv${port}`, baseUrl: `http://127.0.0.1:${port}`, provides: [{ type: KV, version: "1.0.0" }] });

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function jsonSessions(url: string): Http2SessionManager {
  const manager = new Http2SessionManager(url);
  cleanups.push(() => manager.abort());
  return manager;
}

async function host(options: Parameters<typeof startTestHost>[0] = {}): Promise<TestHost> {
  const t = await startTestHost(options);
  cleanups.push(() => t.close());
  return t;
}

/** The wire framing of each binary protocol the Watch RPC is served over, for a raw HTTP/2 client. */
const RAW = {
  connect: { "content-type": "application/connect+proto", "connect-protocol-version": "1" },
  grpc: { "content-type": "application/grpc", te: "trailers" },
  "grpc-web": { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
} as const;
type RawProtocol = keyof typeof RAW;

function frame(flags: number, body: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(body.byteLength, 1);
  return Buffer.concat([head, body]);
}

/** What a raw stream got: the events decoded in order, and how it ended (status and message, from wherever the protocol puts them). */
interface RawWatch {
  events: WatchResponse[];
  /** Resolves once `n` events (snapshot included) arrived. */
  until(n: number): Promise<void>;
  ended: Promise<{ code: string; message: string }>;
  stream: http2.ClientHttp2Stream;
}

/** A Watch read over node:http2 directly, framing the request and parsing the response by hand. */
function rawWatch(url: string, protocol: RawProtocol, token: string, options: { paused?: boolean } = {}): RawWatch {
  const session = http2.connect(url);
  cleanups.push(() => new Promise<void>((resolve) => setImmediate(() => (session.destroy(), resolve()))));
  const stream = session.request({ ":method": "POST", ":path": "/plugboard.v1.RegistryService/Watch", authorization: `Bearer ${token}`, ...RAW[protocol] });
  stream.end(frame(0, toBinary(WatchRequestSchema, create(WatchRequestSchema, { serviceTypes: [KV] }))));
  if (options.paused) stream.pause();
  const events: WatchResponse[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  let pending = Buffer.alloc(0);
  let endMessage: { code: string; message: string } | undefined;
  stream.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
      const flags = pending.readUInt8(0);
      const body = pending.subarray(5, 5 + pending.readUInt32BE(1));
      pending = pending.subarray(5 + body.length);
      if (protocol === "connect" && flags & 0b10) {
        const end = JSON.parse(body.toString()) as { error?: { code: string; message: string } };
        endMessage = end.error ?? { code: "ok", message: "" };
      } else if (protocol === "grpc-web" && flags & 0x80) {
        const fields = Object.fromEntries(body.toString().trim().split("\r\n").map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
        endMessage = { code: fields["grpc-status"]!, message: decodeURIComponent(fields["grpc-message"] ?? "") };
      } else {
        expect(flags).toBe(0); // uncompressed data
        events.push(fromBinary(WatchResponseSchema, body));
        for (const w of waiters) if (events.length >= w.n) w.resolve();
      }
    }
  });
  let trailers: http2.IncomingHttpHeaders = {};
  stream.on("trailers", (t) => (trailers = t));
  const ended = new Promise<{ code: string; message: string }>((resolve, reject) => {
    stream.on("error", reject);
    stream.on("close", () => {
      if (protocol === "grpc") resolve({ code: String(trailers["grpc-status"]), message: decodeURIComponent(String(trailers["grpc-message"] ?? "")) });
      else resolve(endMessage ?? { code: "none", message: "" });
    });
  });
  return {
    events,
    stream,
    ended,
    until: (n) => new Promise<void>((resolve) => (events.length >= n ? resolve() : waiters.push({ n, resolve }))),
  };
}

const UNAUTHENTICATED = { connect: "unauthenticated", grpc: String(Code.Unauthenticated), "grpc-web": String(Code.Unauthenticated) };
const RESOURCE_EXHAUSTED = { connect: "resource_exhausted", grpc: String(Code.ResourceExhausted), "grpc-web": String(Code.ResourceExhausted) };

describe.each(Object.keys(RAW) as RawProtocol[])("a direct-framed Watch read by a raw HTTP/2 client over %s", (protocol) => {
  it("gets the snapshot, then each event once and in order, then ends Unauthenticated when its credential is revoked", async () => {
    const t = await host();
    const { registry, handshake } = t.clients("connect");
    const before = await t.handshake(provides(7001));
    await registry.register({ serviceType: KV }, bearer(before.token));
    const watcher = await t.handshake({ pluginName: "watcher" });
    const w = rawWatch(t.url, protocol, watcher.token);
    await w.until(1);

    const added = await t.handshake(provides(7002));
    const reg = await registry.register({ serviceType: KV, metadata: { zone: "é" } }, bearer(added.token));
    await registry.register({ serviceType: KV, metadata: { zone: "b" } }, bearer(added.token)); // same endpoint: an update
    await registry.unregister({ registrationId: reg.registration!.registrationId }, bearer(added.token));
    await w.until(4);
    await handshake.revoke({}, bearer(watcher.token));
    const end = await w.ended;

    expect(w.events.map((e) => WatchEventType[e.type])).toEqual(["SNAPSHOT", "ADDED", "UPDATED", "REMOVED"]);
    expect(w.events[0]).toMatchObject({ snapshotComplete: true, registrations: [{ runtimeId: before.runtimeId }] });
    expect(w.events[1]!.registrations[0]).toMatchObject({ registrationId: reg.registration!.registrationId, metadata: { zone: "é" } });
    expect(w.events[3]!.removalReason).toBe(RemovalReason.UNREGISTERED);
    expect(end.code).toBe(UNAUTHENTICATED[protocol]);
  });

  it("a watcher that stops reading is cut off with ResourceExhausted, the end written after the frames it got", async () => {
    // Large events fill the transport's buffers quickly: allow big metadata (on few registrations, so pages still fit).
    const t = await host({ limits: { watchBuffer: 8, registrationMetadataBytes: 256 * 1024, registrationsPerRuntime: 4 } });
    const watcher = await t.handshake({ pluginName: "watcher" });
    const provider = await t.handshake(provides(7001));
    const w = rawWatch(t.url, protocol, watcher.token, { paused: true });
    // The snapshot is on its way before the flood (it waits in the paused stream's buffers).
    await new Promise<void>((resolve) => w.stream.once("response", () => resolve()));

    const big = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, "v".repeat(4000)]));
    for (let i = 0; i < 60; i++) await t.clients("connect").registry.register({ serviceType: KV, metadata: { ...big, n: String(i) } }, bearer(provider.token));

    w.stream.resume();
    const end = await w.ended;
    expect(end.code).toBe(RESOURCE_EXHAUSTED[protocol]);
    expect(end.message).toMatch(/fell more than 8 events behind/);
    // Every frame before the end is whole and in order: the snapshot, then the first registration and its updates.
    expect(w.events[0]!.type).toBe(WatchEventType.SNAPSHOT);
    const ns = w.events.slice(1).map((e) => Number(e.registrations[0]!.metadata["n"]));
    expect(ns.length).toBeGreaterThan(0);
    expect(ns.length).toBeLessThan(60);
    expect(ns).toEqual(ns.map((_, i) => i));
  });
});

describe.each(PROTOCOLS)("a direct-framed Watch read by a connect-es %s client", (protocol) => {
  it("gets events in order and ends Unauthenticated when the watching runtime's own registration is revoked with it", async () => {
    const t = await host();
    const transports = createTransports(t.url);
    cleanups.push(() => transports.close());
    const registry = createClient(RegistryService, transports.make(protocol));
    // The watcher provides too: revoking it removes its registration (the hub's "runtime ended") and ends its credential.
    const watcher = await t.handshake(provides(7009));
    await t.clients("connect").registry.register({ serviceType: KV }, bearer(watcher.token));
    const it = registry.watch({ serviceTypes: [KV] }, { ...bearer(watcher.token), timeoutMs: 30_000 })[Symbol.asyncIterator]();
    const snapshot = (await it.next()).value as WatchResponse;
    expect(snapshot.type).toBe(WatchEventType.SNAPSHOT);

    const other = await t.handshake(provides(7002));
    await t.clients("connect").registry.register({ serviceType: KV }, bearer(other.token));
    // Over 1 KiB: connect-es would compress it for this client (it accepts gzip); the direct frame is sent uncompressed (flag 0), which every protocol allows.
    const large = "x".repeat(4_000);
    await t.clients("connect").registry.register({ serviceType: KV, weight: 3, metadata: { large } }, bearer(other.token));
    expect(((await it.next()).value as WatchResponse).type).toBe(WatchEventType.ADDED);
    expect(((await it.next()).value as WatchResponse)).toMatchObject({ type: WatchEventType.UPDATED, registrations: [{ weight: 3, metadata: { large } }] });

    await t.clients("connect").handshake.revoke({}, bearer(watcher.token));
    const error = await (async () => {
      for (;;) if ((await it.next()).done) return undefined;
    })().catch((e: unknown) => ConnectError.from(e));
    expect(error?.code).toBe(Code.Unauthenticated);
  });
});

describe("a Watch's deadline", () => {
  it("ends a direct-framed (binary) stream as it ends a connect-es (JSON) one", async () => {
    const t = await host();
    const watcher = await t.handshake({ pluginName: "watcher" });
    const transports = createTransports(t.url);
    cleanups.push(() => transports.close());
    const binary = createClient(RegistryService, transports.make("connect"));
    const json = createClient(RegistryService, createConnectTransport({ baseUrl: t.url, httpVersion: "2", useBinaryFormat: false, sessionManager: jsonSessions(t.url) }));
    const provider = await t.handshake(provides(7001));
    const outcome = async (client: typeof binary, registerAfterSnapshot: boolean) => {
      const seen: string[] = [];
      try {
        for await (const e of client.watch({ serviceTypes: [KV] }, { ...bearer(watcher.token), timeoutMs: 1_500 })) {
          seen.push(WatchEventType[e.type]);
          // An event after the snapshot, so the binary stream is on its direct path when the deadline comes.
          if (e.type === WatchEventType.SNAPSHOT && registerAfterSnapshot) void t.clients("connect").registry.register({ serviceType: KV }, bearer(provider.token));
        }
        return { seen, code: "ok" };
      } catch (error) {
        return { seen, code: Code[ConnectError.from(error).code] };
      }
    };
    const [viaBinary, viaJson] = await Promise.all([outcome(binary, true), outcome(json, false)]);
    expect(viaBinary.seen.slice(0, 2)).toEqual(["SNAPSHOT", "ADDED"]);
    expect(viaBinary.code).toBe(viaJson.code);
    expect(viaBinary.code).toBe("DeadlineExceeded");
  });
});

describe("which path a Watch's events take", () => {
  it("binary streams skip the per-message interceptor pipeline after the snapshot; JSON streams still go through it", async () => {
    // An embedder's interceptor wrapping the response stream counts the messages it sees per content type.
    const seen: Record<string, string[]> = {};
    const counting: Interceptor = (next) => async (req) => {
      const res = await next(req);
      if (!res.stream || req.method.name !== "Watch") return res;
      const kind = req.header.get("content-type") ?? "";
      const list = (seen[kind] = []) as string[];
      return {
        ...res,
        message: (async function* () {
          for await (const m of res.message) {
            list.push(WatchEventType[(m as WatchResponse).type]);
            yield m;
          }
        })(),
      };
    };
    const t = await host({ interceptors: [counting] });
    const watcher = await t.handshake({ pluginName: "watcher" });
    const binary = rawWatch(t.url, "connect", watcher.token);
    const session = http2.connect(t.url);
    cleanups.push(() => new Promise<void>((resolve) => setImmediate(() => (session.destroy(), resolve()))));
    const json = session.request({ ":method": "POST", ":path": "/plugboard.v1.RegistryService/Watch", "content-type": "application/connect+json", authorization: `Bearer ${watcher.token}` });
    json.end(frame(0, Buffer.from(JSON.stringify({ serviceTypes: [KV] }))));
    const jsonEvents: unknown[] = [];
    json.on("data", () => jsonEvents.push(1));
    await binary.until(1);

    const provider = await t.handshake(provides(7001));
    await t.clients("connect").registry.register({ serviceType: KV }, bearer(provider.token));
    await binary.until(2);
    await expect.poll(() => seen["application/connect+json"], { timeout: 10_000 }).toEqual(["SNAPSHOT", "ADDED"]);

    expect(binary.events.map((e) => WatchEventType[e.type])).toEqual(["SNAPSHOT", "ADDED"]);
    expect(seen["application/connect+proto"]).toEqual(["SNAPSHOT"]);
  });
});
