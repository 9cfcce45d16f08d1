import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS } from "../../../src/protocol/constants.js";
import { parseCallPath } from "../../../src/router/call-path.js";
import { encodeGrpcMessage } from "../../../src/router/grpc-message.js";
import { callerTimeoutMs, detectProtocol, isEnveloped } from "../../../src/router/wire-protocol.js";

/* Boundaries of the router's request parsing: call paths, protocol detection, deadlines, grpc-message. */

describe("parseCallPath, boundaries and messages", () => {
  const n = DEFAULT_LIMITS.nameBytes;

  it("names of exactly nameBytes are accepted, one more is refused (service and method alike)", () => {
    expect(parseCallPath(`/${"s".repeat(n)}/Get`)).toMatchObject({ service: "s".repeat(n), method: "Get" });
    expect(parseCallPath(`/kv.v1.S/${"m".repeat(n)}`)).toMatchObject({ method: "m".repeat(n) });
    for (const p of [`/${"s".repeat(n + 1)}/Get`, `/kv.v1.S/${"m".repeat(n + 1)}`]) {
      const r = parseCallPath(p) as ConnectError;
      expect(r).toBeInstanceOf(ConnectError);
      expect(r.code).toBe(Code.InvalidArgument);
      expect(r.rawMessage).toBe("invalid service or method name in call path");
    }
  });

  it("shape errors are Unimplemented and say what shape is expected", () => {
    for (const p of [undefined, "", "kv.v1.S/Get", "x/kv.v1.S/Get"]) {
      const r = parseCallPath(p) as ConnectError;
      expect(r.code).toBe(Code.Unimplemented);
      expect(r.rawMessage).toBe("malformed call path");
    }
    for (const p of ["/kv.v1.S", "/kv.v1.S/Get/More", "/kv.v1.S/Get/", "/kv.v1.S?x=/a/b"]) {
      const r = parseCallPath(p) as ConnectError;
      expect(r.code).toBe(Code.Unimplemented);
      expect(r.rawMessage).toBe("malformed call path: expected /<package.Service>/<Method>");
    }
  });

  it("the query is cut at its first '?', slashes inside it are not part of the procedure", () => {
    expect(parseCallPath("/kv.v1.S/Get?message=a/b?c")).toEqual({
      service: "kv.v1.S",
      method: "Get",
      procedure: "/kv.v1.S/Get",
      rawPath: "/kv.v1.S/Get?message=a/b?c",
    });
    expect((parseCallPath("/kv.v1.S/?x") as ConnectError).code).toBe(Code.InvalidArgument);
    expect((parseCallPath("//Get") as ConnectError).code).toBe(Code.InvalidArgument);
    expect(parseCallPath("/_a._b/_c")).toMatchObject({ service: "_a._b", method: "_c" });
    for (const p of ["/1a/Get", "/a./Get", "/.a/Get", "/a/1Get", "/a/G.et", "/a b/Get"]) {
      expect((parseCallPath(p) as ConnectError).code).toBe(Code.InvalidArgument);
    }
  });
});

describe("detectProtocol, edges", () => {
  it("content types are matched without regard to case", () => {
    expect(detectProtocol("Application/GRPC", "POST")).toBe("grpc");
    expect(detectProtocol("APPLICATION/CONNECT+JSON", "POST")).toBe("connect-stream");
    expect(detectProtocol("Application/Grpc-Web-Text", "POST")).toBe("grpc-web-text");
    expect(detectProtocol("application/JSON", "POST")).toBe("connect-unary");
  });

  it("only application/* types are RPCs, even when the subtype text is at the same offset", () => {
    for (const ct of ["application_grpc", "applicationXgrpc-web", "text/plain/grpc", "xxxxxxxxxxx/proto", "abcdefghijk/json", "application/", "application/connect"]) {
      expect(detectProtocol(ct, "POST"), ct).toBeUndefined();
    }
    expect(detectProtocol(undefined, "PUT")).toBeUndefined();
    expect(detectProtocol(undefined, undefined)).toBeUndefined();
  });
});

describe("isEnveloped", () => {
  it("Connect streaming, gRPC and gRPC-Web frame messages; Connect unary and gRPC-Web text (base64) do not", () => {
    expect(isEnveloped("connect-stream")).toBe(true);
    expect(isEnveloped("grpc")).toBe(true);
    expect(isEnveloped("grpc-web")).toBe(true);
    expect(isEnveloped("connect-unary")).toBe(false);
    expect(isEnveloped("grpc-web-text")).toBe(false);
  });
});

describe("callerTimeoutMs, edges", () => {
  it("each protocol reads its own header only", () => {
    expect(callerTimeoutMs("connect-stream", { "connect-timeout-ms": "40" })).toBe(40);
    expect(callerTimeoutMs("connect-stream", { "grpc-timeout": "40m" })).toBeUndefined();
    expect(callerTimeoutMs("connect-unary", { "grpc-timeout": "40m" })).toBeUndefined();
    expect(callerTimeoutMs("grpc-web-text", { "grpc-timeout": "40m" })).toBe(40);
    expect(callerTimeoutMs("grpc-web", { "connect-timeout-ms": "40" })).toBeUndefined();
  });

  it("fractions round up to a whole millisecond, zero and sub-millisecond become 1, huge values are clamped", () => {
    expect(callerTimeoutMs("grpc", { "grpc-timeout": "1500u" })).toBe(2);
    expect(callerTimeoutMs("grpc", { "grpc-timeout": "1n" })).toBe(1);
    expect(callerTimeoutMs("connect-unary", { "connect-timeout-ms": "0" })).toBe(1);
    expect(callerTimeoutMs("connect-unary", { "connect-timeout-ms": "9999999999" })).toBe(2 ** 31 - 1);
    expect(callerTimeoutMs("grpc", { "grpc-timeout": "99999999H" })).toBe(2 ** 31 - 1);
    expect(callerTimeoutMs("grpc", { "grpc-timeout": "3S" })).toBe(3000);
  });

  it("a repeated header is read by its first value; an empty list is no deadline", () => {
    const repeated = { "grpc-timeout": ["7m", "1m"] } as unknown as Record<string, string>;
    expect(callerTimeoutMs("grpc", repeated)).toBe(7);
    const empty = { "grpc-timeout": [] } as unknown as Record<string, string>;
    expect(callerTimeoutMs("grpc", empty)).toBeUndefined();
  });

  it("a malformed value is InvalidArgument with the parser's message", () => {
    const r = callerTimeoutMs("connect-unary", { "connect-timeout-ms": "abc" }) as ConnectError;
    expect(r.code).toBe(Code.InvalidArgument);
    expect(r.rawMessage).toMatch(/invalid connect timeout value: abc/);
    const g = callerTimeoutMs("grpc", { "grpc-timeout": "1x" }) as ConnectError;
    expect(g.rawMessage).toMatch(/timeout/);
  });
});

describe("encodeGrpcMessage", () => {
  it("printable ASCII other than '%' passes unchanged (the very same string)", () => {
    const s = " !\"#$&'()*+,-./0123456789:;<=>?@AZ[\\]^_`az{|}~";
    expect(encodeGrpcMessage(s)).toBe(s);
    expect(encodeGrpcMessage("")).toBe("");
  });

  it("percent-encodes '%', control bytes, DEL and the UTF-8 bytes of non-ASCII text, in upper-case hex with two digits", () => {
    expect(encodeGrpcMessage("100%")).toBe("100%25");
    expect(encodeGrpcMessage("a\nb")).toBe("a%0Ab");
    expect(encodeGrpcMessage("\x00\x1f\x20\x7e\x7f")).toBe("%00%1F ~%7F");
    expect(encodeGrpcMessage("é:ü")).toBe("%C3%A9:%C3%BC");
    expect(encodeGrpcMessage("ok \u{1F600}")).toBe("ok %F0%9F%98%80");
    expect(decodeURIComponent(encodeGrpcMessage("x: 5% of ∞\t"))).toBe("x: 5% of ∞\t");
  });

  it("a text made only of one character to encode is encoded too (the plain-text check sees it)", () => {
    expect(encodeGrpcMessage("%")).toBe("%25");
    expect(encodeGrpcMessage("\n")).toBe("%0A");
    expect(encodeGrpcMessage("\x10")).toBe("%10");
    expect(encodeGrpcMessage("\x7f")).toBe("%7F");
    expect(encodeGrpcMessage("é")).toBe("%C3%A9");
  });
});
