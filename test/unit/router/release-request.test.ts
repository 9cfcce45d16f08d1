import http2, { type ServerHttp2Stream } from "node:http2";
import { describe, expect, it } from "vitest";
import { releaseRequest } from "../../../src/router/release-request.js";
import { useLoopbackH2 } from "../../helpers/loopback-h2.js";

/*
 * The rest of a request nobody wants any more, on a real loopback HTTP/2 connection: the client keeps
 * uploading after the answer; it must never hang (flow control) and, when asked, is told to stop.
 */

const loopback = useLoopbackH2();

/** Resolves when the client's stream closes; fails the test if it has not within a generous bound. */
function closed(req: http2.ClientHttp2Stream): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("the client stream never closed")), 10_000);
    req.once("close", () => {
      clearTimeout(t);
      resolve(req.rstCode ?? -1);
    });
  });
}

function answer(req: http2.ClientHttp2Stream): Promise<string> {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => req.once("end", () => resolve(Buffer.concat(chunks).toString())));
}

const BIG = Buffer.alloc(256 * 1024, 1); // past the 64 KiB flow-control window

describe("releaseRequest", () => {
  /**
   * As the router does: the request was read, then paused. (A server stream whose request was never
   * read is closed by node itself once its answer is out.)
   */
  function readThenPause(stream: ServerHttp2Stream): void {
    stream.on("data", () => undefined);
    stream.pause();
  }

  /** The server stream's close (with the code it was closed with); fails past a generous bound. */
  function serverClosed(stream: ServerHttp2Stream): Promise<number> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("the server stream never closed")), 10_000);
      stream.once("close", () => {
        clearTimeout(t);
        resolve(stream.rstCode ?? -1);
      });
    });
  }

  it("reset: once the answer is out, a client still uploading (and not reading) is reset with NO_ERROR", async () => {
    let closing!: Promise<number>;
    let finishedFirst = false;
    loopback.handler = (stream) => {
      closing = serverClosed(stream);
      readThenPause(stream);
      stream.respond({ ":status": 200 });
      stream.end("answer");
      releaseRequest(stream, true);
      stream.once("close", () => (finishedFirst = stream.writableFinished));
    };
    const req = loopback.session.request({ ":method": "POST", ":path": "/x" });
    req.on("error", () => undefined);
    req.write(BIG);
    await new Promise((resolve) => req.once("response", resolve));
    // Nobody ends the request nor reads the answer: only the reset closes the stream, after the answer went out.
    expect(await closing).toBe(http2.constants.NGHTTP2_NO_ERROR);
    expect(finishedFirst).toBe(true);
    req.destroy();
  });

  it("reset when the answer had already been flushed before the call", async () => {
    let closing!: Promise<number>;
    loopback.handler = (stream) => {
      closing = serverClosed(stream);
      readThenPause(stream);
      stream.respond({ ":status": 200 });
      stream.once("finish", () => setImmediate(() => releaseRequest(stream, true)));
      stream.end("done");
    };
    const req = loopback.session.request({ ":method": "POST", ":path": "/x" });
    req.on("error", () => undefined);
    req.write("some");
    await new Promise((resolve) => req.once("response", resolve));
    expect(await closing).toBe(http2.constants.NGHTTP2_NO_ERROR);
    req.destroy();
  });

  it("without reset the upload is drained (never stalled by flow control) and the stream ends normally", async () => {
    let received = 0;
    let uploaded!: () => void;
    const upload = new Promise<void>((resolve) => (uploaded = resolve));
    loopback.handler = (stream) => {
      stream.pause();
      stream.on("data", (c: Buffer) => (received += c.length));
      stream.once("end", () => uploaded());
      stream.respond({ ":status": 200 });
      stream.end("early answer");
      releaseRequest(stream, false);
    };
    const req = loopback.session.request({ ":method": "POST", ":path": "/x" });
    const body = answer(req);
    req.write(BIG);
    req.end(BIG);
    expect(await closed(req)).toBe(http2.constants.NGHTTP2_NO_ERROR);
    expect(await body).toBe("early answer");
    await upload;
    expect(received).toBe(2 * BIG.length);
  });

  it("a closed or destroyed stream is left alone", async () => {
    let threw: unknown = "not called";
    loopback.handler = (stream) => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      try {
        releaseRequest(stream, true);
        releaseRequest(stream, false);
        threw = undefined;
      } catch (e) {
        threw = e;
      }
    };
    const req = loopback.session.request({ ":method": "POST", ":path": "/x" });
    req.on("error", () => undefined);
    expect(await closed(req)).toBe(http2.constants.NGHTTP2_CANCEL);
    expect(threw).toBeUndefined();
  });
});
