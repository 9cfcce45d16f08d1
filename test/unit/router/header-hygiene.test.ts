import type { IncomingHttpHeaders } from "node:http2";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { downstreamHeaders, upstreamRequestHeaders } from "../../../src/router/header-hygiene.js";

const HOP_BY_HOP = ["connection", "keep-alive", "te", "transfer-encoding", "upgrade", "proxy-connection", "proxy-authenticate", "proxy-authorization", "host", "http2-settings"];
const REQUEST_PSEUDO = [":method", ":scheme", ":authority", ":path", ":protocol"];

describe("downstream headers", () => {
  it("drop every hop-by-hop field and request pseudo header, and keep everything else", () => {
    const names = fc.constantFrom(...HOP_BY_HOP, ...REQUEST_PSEUDO, ":status", "content-type", "grpc-status", "grpc-message", "x-custom", "trailer");
    fc.assert(
      fc.property(fc.dictionary(names, fc.string({ maxLength: 8 })), (headers) => {
        const out = downstreamHeaders(headers as IncomingHttpHeaders);
        for (const name of [...HOP_BY_HOP, ...REQUEST_PSEUDO]) expect(out[name]).toBeUndefined();
        for (const [name, value] of Object.entries(headers))
          if (!HOP_BY_HOP.includes(name) && !REQUEST_PSEUDO.includes(name)) expect(out[name]).toBe(value);
      }),
    );
  });

  it("a response with nothing to drop passes on as it is (no copy per call)", () => {
    const headers: IncomingHttpHeaders = { ":status": "200", "content-type": "application/grpc" } as never;
    expect(downstreamHeaders(headers)).toBe(headers);
    const dirty = { ...headers, connection: "close" } as IncomingHttpHeaders;
    expect(downstreamHeaders(dirty)).not.toBe(dirty);
    expect(downstreamHeaders(dirty)).toEqual(headers);
  });
});

describe("upstream request headers", () => {
  it("carry no credential, hop-by-hop field or plugboard-* header of the caller, and the router's caller header", () => {
    const out = upstreamRequestHeaders(
      { ":method": "POST", ":path": "/a.B/C", ":authority": "host", authorization: "Bearer x", connection: "close", "plugboard-caller": "forged", "content-type": "application/grpc", "x-app": "1" } as never,
      { scheme: "http", authority: "127.0.0.1:1", pathPrefix: "/p" } as never,
      "/a.B/C",
      true,
      "plugboard-caller",
      "signed",
    );
    expect(out).toEqual({ ":method": "POST", ":scheme": "http", ":authority": "127.0.0.1:1", ":path": "/p/a.B/C", "content-type": "application/grpc", "x-app": "1", te: "trailers", "plugboard-caller": "signed" });
  });
});
