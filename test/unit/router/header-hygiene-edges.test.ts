import type { IncomingHttpHeaders } from "node:http2";
import { describe, expect, it } from "vitest";
import { downstreamHeaders, upstreamRequestHeaders } from "../../../src/router/header-hygiene.js";
import type { UpstreamTarget } from "../../../src/router/upstream-pool.js";

const target = (pathPrefix = ""): UpstreamTarget => ({ scheme: "https", authority: "provider.local:8443", pathPrefix }) as never;
const req = (h: Record<string, string | string[]>) => h as unknown as IncomingHttpHeaders;

describe("upstream request headers, edges", () => {
  it("a request without :method goes out as POST; without a path prefix the path is the call's own", () => {
    const out = upstreamRequestHeaders(req({ ":path": "/ignored/Path" }), target(), "/a.B/C", false, undefined, undefined);
    expect(out).toStrictEqual({ ":method": "POST", ":scheme": "https", ":authority": "provider.local:8443", ":path": "/a.B/C" });
  });

  it("the caller's pseudo headers never replace the router's (authority, path, scheme)", () => {
    const out = upstreamRequestHeaders(
      req({ ":method": "GET", ":scheme": "http", ":authority": "evil", ":path": "/x.Y/Z", ":protocol": "websocket" }),
      target("/prefix"),
      "/a.B/C",
      false,
      undefined,
      undefined,
    );
    expect(out).toStrictEqual({ ":method": "GET", ":scheme": "https", ":authority": "provider.local:8443", ":path": "/prefix/a.B/C" });
  });

  it("drops every hop-by-hop header, the credential and every plugboard-* header even when no caller header is set", () => {
    const out = upstreamRequestHeaders(
      req({
        ":method": "POST",
        connection: "keep-alive",
        "keep-alive": "5",
        te: "trailers",
        "transfer-encoding": "chunked",
        upgrade: "h2c",
        "proxy-connection": "x",
        "proxy-authenticate": "x",
        "proxy-authorization": "Basic x",
        host: "h",
        "http2-settings": "x",
        authorization: "Bearer pbrt_secret",
        "plugboard-caller": "forged",
        "plugboard-anything": "forged",
        "x-plugboard-app": "kept",
        "x-multi": ["1", "2"],
      }),
      target(),
      "/a.B/C",
      false,
      undefined,
      undefined,
    );
    expect(out).toStrictEqual({
      ":method": "POST",
      ":scheme": "https",
      ":authority": "provider.local:8443",
      ":path": "/a.B/C",
      "x-plugboard-app": "kept",
      "x-multi": ["1", "2"],
    });
  });

  it("te: trailers only for gRPC", () => {
    expect(upstreamRequestHeaders(req({}), target(), "/a.B/C", true, undefined, undefined)["te"]).toBe("trailers");
    expect("te" in upstreamRequestHeaders(req({ te: "trailers" }), target(), "/a.B/C", false, undefined, undefined)).toBe(false);
  });

  it("the caller header is set only when both its name and its value are given", () => {
    const none = upstreamRequestHeaders(req({}), target(), "/a.B/C", false, "plugboard-caller", undefined);
    expect(Object.keys(none)).toEqual([":method", ":scheme", ":authority", ":path"]);
    const noName = upstreamRequestHeaders(req({}), target(), "/a.B/C", false, undefined, "signed");
    expect(Object.keys(noName)).toEqual([":method", ":scheme", ":authority", ":path"]);
    expect(upstreamRequestHeaders(req({}), target(), "/a.B/C", false, "plugboard-caller", "signed")["plugboard-caller"]).toBe("signed");
  });

  it("trace context passes through untouched without tracing, and is replaced as a whole with it", () => {
    const caller = req({ traceparent: "00-aaaa-bbbb-01", tracestate: "vendor=1", "x-app": "1" });
    const plain = upstreamRequestHeaders(caller, target(), "/a.B/C", false, undefined, undefined);
    expect(plain["traceparent"]).toBe("00-aaaa-bbbb-01");
    expect(plain["tracestate"]).toBe("vendor=1");
    const traced = upstreamRequestHeaders(caller, target(), "/a.B/C", false, undefined, undefined, { traceparent: "00-cccc-dddd-01" });
    expect(traced["traceparent"]).toBe("00-cccc-dddd-01");
    expect("tracestate" in traced).toBe(false);
    expect(traced["x-app"]).toBe("1");
    const both = upstreamRequestHeaders(req({ traceparent: "old" }), target(), "/a.B/C", false, undefined, undefined, { tracestate: "mine=2" });
    expect("traceparent" in both).toBe(false);
    expect(both["tracestate"]).toBe("mine=2");
  });
});

describe("downstream headers, edges", () => {
  it("a header that happens to be named 'undefined' is an ordinary header: nothing to drop, no copy", () => {
    const headers = req({ ":status": "200", undefined: "x" });
    expect(downstreamHeaders(headers)).toBe(headers);
  });

  it("when a copy is made, :status and every ordinary header (however many) survive it", () => {
    const headers = req({ ":status": "200", ":path": "/x", "content-type": "application/grpc", "x-a": "1", "x-b": ["2", "3"], "keep-alive": "1" });
    expect(downstreamHeaders(headers)).toStrictEqual({ ":status": "200", "content-type": "application/grpc", "x-a": "1", "x-b": ["2", "3"] });
  });

  it.each(["connection", "keep-alive", "te", "transfer-encoding", "upgrade", "proxy-connection", "proxy-authenticate", "proxy-authorization", "host", "http2-settings", ":method", ":scheme", ":authority", ":path", ":protocol"])(
    "a response carrying %s alone is copied without it",
    (name) => {
      const headers = req({ ":status": "200", [name]: "v" });
      const out = downstreamHeaders(headers);
      expect(out).not.toBe(headers);
      expect(out).toStrictEqual({ ":status": "200" });
    },
  );
});
