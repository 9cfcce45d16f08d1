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

function closedWithin(socket: net.Socket | http2.ClientHttp2Session, ms: number): Promise<number | "open"> {
  const started = Date.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("open"), ms);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

describe("slowloris", () => {
  it("the default idle timeout is two minutes", () => {
    expect(IDLE_TIMEOUT_MS).toBe(120_000);
  });

  it("silent and half-preface connections do not stop others being served, and are closed when idle", async () => {
    t = await startTestHost({}, { idleTimeoutMs: 400 });
    const port = t.server.port;
    const silent = Array.from({ length: 50 }, () => net.connect(port, "127.0.0.1"));
    const half = Array.from({ length: 50 }, () => {
      const s = net.connect(port, "127.0.0.1", () => s.write("PRI * HTTP/2.0\r\n"));
      return s;
    });
    sockets.push(...silent, ...half);
    // Read (and drop) what the host sends, so a close from its side is seen.
    for (const s of sockets) s.on("error", () => undefined).resume();
    const closing = sockets.map((s) => closedWithin(s, 5_000));

    // Meanwhile a real client handshakes promptly.
    const before = performance.now();
    await t.handshake();
    expect(performance.now() - before).toBeLessThan(2_000);

    const closed = await Promise.all(closing);
    expect(closed.filter((c) => c === "open")).toHaveLength(0);
  });

  it("an HTTP/2 session that opens but never sends a request is closed; one with an open stream is kept", async () => {
    t = await startTestHost({}, { idleTimeoutMs: 400 });
    const idle = http2.connect(t.url);
    const busy = http2.connect(t.url);
    const idleClosed = closedWithin(idle, 5_000);
    idle.on("error", () => undefined);
    busy.on("error", () => undefined);
    // A stream left open (headers sent, body never finished) holds its session past the idle timeout.
    const stream = busy.request({ ":method": "POST", ":path": "/plugboard.v1.HandshakeService/Handshake", "content-type": "application/proto" });
    stream.on("error", () => undefined);
    expect(await idleClosed).not.toBe("open");
    expect(busy.closed || busy.destroyed).toBe(false);
    busy.destroy();
  });
});
