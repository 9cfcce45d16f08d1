import type { ServerHttp2Stream } from "node:http2";
import http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { writeErrorResponse } from "../../../src/router/error-response.js";
import type { WireProtocol } from "../../../src/router/wire-protocol.js";
import { useLoopbackH2 } from "../../helpers/loopback-h2.js";

/*
 * Review finding: a refusal may be written to a stream that was closed (reset) but is not yet destroyed
 * (node destroys it a tick later). `respond()` throws on such a stream (ERR_HTTP2_INVALID_STREAM): the
 * error answer must be skipped, not thrown into the router's decision steps.
 */
const loopback = useLoopbackH2();
const PROTOCOLS: WireProtocol[] = ["connect-unary", "connect-stream", "grpc", "grpc-web", "grpc-web-text"];

describe("writeErrorResponse on a closed stream", () => {
  it.each(PROTOCOLS)("%s: nothing is written and nothing throws", async (protocol) => {
    const outcome = new Promise<{ closed: boolean; destroyed: boolean; thrown: unknown }>((resolve) => {
      loopback.handler = (stream: ServerHttp2Stream) => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        const state = { closed: stream.closed, destroyed: stream.destroyed };
        try {
          writeErrorResponse(stream, protocol, undefined, new ConnectError("refused", Code.PermissionDenied));
          resolve({ ...state, thrown: undefined });
        } catch (e) {
          resolve({ ...state, thrown: e });
        }
      };
    });
    const req = loopback.session.request({ ":method": "POST", ":path": "/a.B/C" }, { endStream: true });
    req.on("error", () => undefined);
    const closed = new Promise<void>((resolve) => req.once("close", resolve));
    const o = await outcome;
    await closed;
    expect(o.closed).toBe(true);
    expect(o.destroyed).toBe(false);
    expect(o.thrown).toBeUndefined();
  });
});
