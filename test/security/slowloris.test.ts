import * as http2 from "node:http2";
import * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { IDLE_TIMEOUT_MS } from "../../src/host/listen.js";
import { startTestHost, type TestHost } from "../helpers/host.js";

/**
 * Slowloris-style clients: connections that open and then say nothing (or stop
 * half-way through the connection preface). The host keeps serving everyone
 * else, and closes such connections after the idle timeout (default IDLE_TIMEOUT_MS).
 */
let t: TestHost | undefined;
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await t?.close();
  t = undefined;
});

/** Resolves "closed" when the connection closes, or "open" if it is still open after `boundMs` (a generous bound). */
function closedWithin(socket: net.Socket | http2.ClientHttp2Session, boundMs: number): Promise<"closed" | "open"> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("open"), boundMs);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve("closed");
    });
  });
}

/** 50 silent connections and 50 that stop half-way through the connection preface, all connected. */
async function slowClients(port: number): Promise<net.Socket[]> {
  const silent = Array.from({ length: 50 }, () => net.connect(port, "127.0.0.1"));
  const half = Array.from({ length: 50 }, () => {
    const s = net.connect(port, "127.0.0.1", () => s.write("PRI * HTTP/2.0\r\n"));
    return s;
  });
  const all = [...silent, ...half];
  sockets.push(...all);
  // Read (and drop) what the host sends, so a close from its side is seen.
  for (const s of all) s.on("error", () => undefined).resume();
  await Promise.all(all.map((s) => new Promise((r) => (s.connecting ? s.once("connect", r) : r(undefined)))));
  return all;
}

describe("slowloris", () => {
  it("the default idle timeout is two minutes", () => {
    expect(IDLE_TIMEOUT_MS).toBe(120_000);
  });

  it("silent and half-preface connections do not stop others being served", async () => {
    // An idle timeout far past the test, so the slow clients are all still connected while a real client is served.
    t = await startTestHost({}, { idleTimeoutMs: 600_000 });
    const slow = await slowClients(t.server.port);
    await t.handshake();
    expect(slow.filter((s) => s.closed || s.destroyed)).toHaveLength(0);
  });

  it("silent and half-preface connections are closed when idle", async () => {
    t = await startTestHost({}, { idleTimeoutMs: 400 });
    const slow = await slowClients(t.server.port);
    const closed = await Promise.all(slow.map((s) => closedWithin(s, 20_000)));
    expect(closed.filter((c) => c === "open")).toHaveLength(0);
  });

  it("an HTTP/2 session that opens but never sends a request is closed; one with an open stream is kept", async () => {
    t = await startTestHost({}, { idleTimeoutMs: 400 });
    const busy = http2.connect(t.url);
    busy.on("error", () => undefined);
    // A stream left open (headers sent, body never finished) holds its session past the idle timeout.
    const stream = busy.request({ ":method": "POST", ":path": "/plugboard.v1.HandshakeService/Handshake", "content-type": "application/proto" });
    stream.on("error", () => undefined);
    // Two idle sessions opened one after the other, each after the busy one: when the second is closed,
    // the busy session has gone without a request for longer than two idle timeouts (no clock needed).
    for (let i = 0; i < 2; i++) {
      const idle = http2.connect(t.url);
      idle.on("error", () => undefined);
      expect(await closedWithin(idle, 20_000)).toBe("closed");
    }
    expect(busy.closed || busy.destroyed).toBe(false);
    await new Promise((r) => setImmediate(r));
    busy.destroy();
  });
});
