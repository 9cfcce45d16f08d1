import { gzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GetRequestSchema, GetResponseSchema } from "../../../gen/kv/v1/kv_pb.js";
import { Base64Decoder, Base64Encoder } from "../../../src/router/bridge/base64-stream.js";
import { connectGetMessage } from "../../../src/router/bridge/connect-get.js";
import { addHeaders, callerRequestEncoding, grpcMetadata, grpcResponseEncoding, toFetchHeaders, toGrpcRequestHeaders } from "../../../src/router/bridge/headers.js";
import { EnvelopeReader, JsonCodec } from "../../../src/router/bridge/json-codec.js";
import { bridgeRefusal, callerCodec, needsBridge } from "../../../src/router/bridge/protocols.js";
import { UnaryCollector } from "../../../src/router/bridge/unary-collector.js";
import { splitAt } from "../../helpers/chunks.js";

/* The protocol bridge's pure helpers (src/router/bridge), checked directly: bridge.test.ts goes through a router. */

function envelope(payload: Buffer | Uint8Array, flags = 0): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

describe("base64 streams (gRPC-Web text)", () => {
  it("property: any chunking of several padded runs, with whitespace, decodes to the bytes", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 5 }), fc.array(fc.nat(), { maxLength: 8 }), (runs, cuts) => {
        const text = runs.map((r) => Buffer.from(r).toString("base64")).join("\r\n");
        const d = new Base64Decoder();
        const out = splitAt(Buffer.from(text, "latin1"), cuts).map((c) => d.push(c));
        expect(Buffer.concat(out).equals(Buffer.concat(runs.map((r) => Buffer.from(r))))).toBe(true);
        expect(d.clean).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("an unfinished group is held and reported as not clean", () => {
    const d = new Base64Decoder();
    expect(d.push(Buffer.from("QUJD", "latin1")).toString()).toBe("ABC");
    expect(d.clean).toBe(true);
    expect(d.push(Buffer.from("RE", "latin1")).length).toBe(0);
    expect(d.clean).toBe(false);
    expect(d.push(Buffer.from("U=\n", "latin1")).toString()).toBe("DE");
    expect(d.clean).toBe(true);
    // A single run decodes to one buffer; two padded runs in one chunk to both.
    expect(d.push(Buffer.from("QQ==Qg==", "latin1")).toString()).toBe("AB");
    expect(d.push(Buffer.from("QUI=QUJD", "latin1")).toString()).toBe("ABABC");
  });

  it("property: the encoder's output, whatever the chunking, is the one base64 run of the bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        const e = new Base64Encoder();
        const text = splitAt(Buffer.from(bytes), cuts).map((c) => e.push(c)).join("") + e.end();
        expect(text).toBe(Buffer.from(bytes).toString("base64"));
        expect(e.end()).toBe("");
      }),
      { numRuns: 300 },
    );
  });

  it("the encoder carries up to two bytes and pads them only at the end", () => {
    const e = new Base64Encoder();
    expect(e.push(Buffer.from("ab"))).toBe("");
    expect(e.push(Buffer.from("cd"))).toBe("YWJj");
    expect(e.end()).toBe("ZA==");
    expect(e.push(Buffer.from("xyz"))).toBe("eHl6");
    expect(e.end()).toBe("");
  });
});

describe("connectGetMessage", () => {
  it("percent-decodes to bytes (not UTF-8 text), '+' is a space", () => {
    expect([...(connectGetMessage("/a.B/C?encoding=proto&message=%0A%03abc%FF") as Buffer)]).toEqual([0x0a, 0x03, 0x61, 0x62, 0x63, 0xff]);
    expect((connectGetMessage("/a.B/C?message=a+b%20c") as Buffer).toString()).toBe("a b c");
    expect((connectGetMessage("/a.B/C?message=%7b%7D") as Buffer).toString()).toBe("{}");
  });

  it("a '%' without two hex digits stays a literal '%' (also at the very end)", () => {
    expect((connectGetMessage("/a.B/C?message=%zz%4") as Buffer).toString("latin1")).toBe("%zz%4");
    expect((connectGetMessage("/a.B/C?message=50%") as Buffer).toString("latin1")).toBe("50%");
    expect((connectGetMessage("/a.B/C?message=%41") as Buffer).toString("latin1")).toBe("A");
    expect((connectGetMessage("/a.B/C?message=%4") as Buffer).toString("latin1")).toBe("%4");
    expect((connectGetMessage("/a.B/C?message=%") as Buffer).toString("latin1")).toBe("%");
  });

  it("characters above 0xFF keep only their low byte (what a raw query can hold)", () => {
    expect([...(connectGetMessage("/a.B/C?message=\u0141") as Buffer)]).toEqual([0x41]);
  });

  it("base64=1: URL-safe base64, itself percent-decoded first", () => {
    const bin = Buffer.from([0xfb, 0xff, 0x00, 0x01]);
    expect((connectGetMessage(`/a.B/C?message=${bin.toString("base64url")}&base64=1`) as Buffer).equals(bin)).toBe(true);
    expect((connectGetMessage(`/a.B/C?base64=1&message=${encodeURIComponent(bin.toString("base64"))}`) as Buffer).equals(bin)).toBe(true);
    expect((connectGetMessage("/a.B/C?message=QUI&base64=0") as Buffer).toString()).toBe("QUI");
  });

  it("the message parameter is found among others and is required", () => {
    expect((connectGetMessage("/a.B/C?connect=v1&message=x&encoding=json") as Buffer).toString()).toBe("x");
    expect((connectGetMessage("/a.B/C?message=") as Buffer).length).toBe(0);
    expect((connectGetMessage("/a.B/C?message=a=b") as Buffer).toString()).toBe("a=b");
    // Parameters come from the query only; a parameter without '=' has no value (not its name cut short).
    for (const path of ["/a.B/C", "/a.B/C?", "/a.B/C?messages=x", "/a.B/C?=x&message", "/a.B/C?xmessage=1", "/a.B/C&message=x", "/a.B/C?messageX", "/a.B/C?x=1&messagee"]) {
      const err = connectGetMessage(path) as ConnectError;
      expect(err, path).toBeInstanceOf(ConnectError);
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.rawMessage).toBe("Connect GET request without a message parameter");
    }
  });
});

describe("bridge headers", () => {
  it("callerRequestEncoding: each protocol's own header; identity and empty mean none", () => {
    expect(callerRequestEncoding("connect-unary", { "content-encoding": "gzip" }, "/a.B/C")).toBe("gzip");
    expect(callerRequestEncoding("connect-unary", { ":method": "GET" }, "/a.B/C?message=x&compression=br")).toBe("br");
    expect(callerRequestEncoding("connect-unary", { ":method": "GET", "content-encoding": "gzip" }, "/a.B/C?message=x")).toBeUndefined();
    expect(callerRequestEncoding("connect-unary", { ":method": "GET" }, "/a.B/C?compression=&x=1")).toBeUndefined();
    expect(callerRequestEncoding("connect-stream", { "connect-content-encoding": "gzip", "content-encoding": "br" }, "/")).toBe("gzip");
    expect(callerRequestEncoding("grpc-web", { "grpc-encoding": "gzip", "connect-content-encoding": "br" }, "/")).toBe("gzip");
    expect(callerRequestEncoding("grpc-web", { "grpc-encoding": "identity" }, "/")).toBeUndefined();
    expect(callerRequestEncoding("connect-stream", { "connect-content-encoding": "" }, "/")).toBeUndefined();
    expect(callerRequestEncoding("connect-stream", { "connect-content-encoding": ["deflate", "gzip"] } as never, "/")).toBe("deflate");
  });

  it("toGrpcRequestHeaders: the caller's protocol headers go, gRPC's come; the query leaves the path; the deadline in ms", () => {
    const out = toGrpcRequestHeaders(
      {
        ":method": "GET",
        ":path": "/prefix/a.B/C?message=x&encoding=proto",
        "content-type": "application/proto",
        "content-length": "3",
        "content-encoding": "gzip",
        "accept-encoding": "gzip, br",
        "connect-protocol-version": "1",
        "connect-timeout-ms": "100",
        "connect-content-encoding": "x",
        "connect-accept-encoding": "x",
        "grpc-timeout": "1S",
        "x-grpc-web": "1",
        "x-user-agent": "ua",
        "x-app": "kept",
      },
      "connect-unary",
      { ":method": "POST", "content-encoding": "gzip", "accept-encoding": "gzip, br" },
      "/a.B/C?message=x&encoding=proto",
      1234.2,
    );
    expect(out).toStrictEqual({
      ":method": "POST",
      ":path": "/prefix/a.B/C",
      "content-type": "application/grpc+proto",
      te: "trailers",
      "grpc-encoding": "gzip",
      "grpc-accept-encoding": "gzip, br",
      "grpc-timeout": "1235m",
      "x-app": "kept",
    });
  });

  it("toGrpcRequestHeaders: accept-encoding by protocol, no deadline or encoding when none, a sub-ms deadline is 1m", () => {
    const stream = toGrpcRequestHeaders({ ":path": "/a.B/C" }, "connect-stream", { "connect-accept-encoding": "br", "accept-encoding": "x" }, "/a.B/C", undefined);
    expect(stream).toStrictEqual({ ":method": "POST", ":path": "/a.B/C", "content-type": "application/grpc+proto", te: "trailers", "grpc-accept-encoding": "br" });
    const web = toGrpcRequestHeaders({ ":path": "/a.B/C" }, "grpc-web", { "grpc-accept-encoding": "gzip", "connect-accept-encoding": "x" }, "/a.B/C", 0.2);
    expect(web["grpc-accept-encoding"]).toBe("gzip");
    expect(web["grpc-timeout"]).toBe("1m");
    const none = toGrpcRequestHeaders({ ":path": "/a.B/C" }, "grpc-web", {}, "/a.B/C", undefined);
    expect(Object.keys(none).sort()).toEqual([":method", ":path", "content-type", "te"]);
  });

  it("grpcMetadata: application headers only, repeated values as entries", () => {
    const h = {
      ":status": "200",
      "content-type": "application/grpc",
      "content-length": "1",
      "grpc-encoding": "gzip",
      "grpc-accept-encoding": "gzip",
      "grpc-status": "0",
      "grpc-message": "m",
      "grpc-status-details-bin": "x",
      te: "trailers",
      trailer: "x",
      connection: "x",
      "keep-alive": "x",
      "transfer-encoding": "x",
      upgrade: "x",
      "x-one": "1",
      "x-two": ["a", "b"],
      "x-gone": undefined,
      "x-bin": "AAE=",
    };
    expect(grpcMetadata(h as never)).toEqual([
      ["x-one", "1"],
      ["x-two", "a"],
      ["x-two", "b"],
      ["x-bin", "AAE="],
    ]);
  });

  it("addHeaders: repeated names become arrays, with an optional prefix", () => {
    expect(addHeaders({ a: "0" }, [["a", "1"], ["a", "2"], ["b", "3"]])).toStrictEqual({ a: ["0", "1", "2"], b: "3" });
    expect(addHeaders({ ":status": 200 }, [["x", "1"], ["x", "2"]], "trailer-")).toStrictEqual({ ":status": 200, "trailer-x": ["1", "2"] });
    expect(addHeaders({ n: 5 }, [["n", "6"]])).toStrictEqual({ n: ["5", "6"] });
  });

  it("toFetchHeaders: every non-pseudo header, repeated values appended", () => {
    const h = toFetchHeaders({ ":status": "200", "grpc-status": "5", "grpc-message": "not found", "x-a": ["1", "2"], "x-u": undefined } as never);
    expect([...h.entries()]).toEqual([
      ["grpc-message", "not found"],
      ["grpc-status", "5"],
      ["x-a", "1, 2"],
    ]);
  });

  it("grpcResponseEncoding: identity and empty mean none", () => {
    expect(grpcResponseEncoding({ "grpc-encoding": "gzip" })).toBe("gzip");
    expect(grpcResponseEncoding({ "grpc-encoding": "identity" })).toBeUndefined();
    expect(grpcResponseEncoding({ "grpc-encoding": "" })).toBeUndefined();
    expect(grpcResponseEncoding({})).toBeUndefined();
  });
});

describe("JsonCodec", () => {
  const codec = new JsonCodec({ input: GetRequestSchema, output: GetResponseSchema });

  it("JSON requests (plain or gzipped) become binary; bad JSON is InvalidArgument naming the type", () => {
    const bin = codec.request(Buffer.from('{"key":"k1"}'), false);
    expect(fromBinary(GetRequestSchema, bin).key).toBe("k1");
    expect(fromBinary(GetRequestSchema, codec.request(gzipSync(Buffer.from('{"key":"k2"}')), true)).key).toBe("k2");
    for (const [body, gz] of [[Buffer.from("{"), false], [Buffer.from('{"nope":1}'), false], [Buffer.from('{"key":"x"}'), true]] as const) {
      let err: unknown;
      try {
        codec.request(body, gz);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code).toBe(Code.InvalidArgument);
      expect((err as ConnectError).rawMessage).toMatch(/^request message is not valid JSON for kv\.v1\.GetRequest: \S/);
    }
  });

  it("binary responses (plain or gzipped) become JSON; undecodable ones are Internal naming the type", () => {
    const bin = toBinary(GetResponseSchema, create(GetResponseSchema, { key: "k", found: true }));
    expect(JSON.parse(codec.response(bin, false).toString("utf8"))).toEqual({ key: "k", found: true });
    expect(JSON.parse(codec.response(gzipSync(bin), true).toString("utf8"))).toEqual({ key: "k", found: true });
    expect(() => codec.response(Buffer.from([0xff, 0xff, 0xff]), false)).toThrow(
      expect.objectContaining({ code: Code.Internal, rawMessage: "provider answered a message that is not a kv.v1.GetResponse" }),
    );
    expect(() => codec.response(bin, true)).toThrow(expect.objectContaining({ code: Code.Internal }));
  });
});

describe("EnvelopeReader", () => {
  it("property: any chunking yields every envelope whole, in order, with its flags", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.uint8Array({ maxLength: 12 }), fc.integer({ min: 0, max: 3 })), { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), (msgs, cuts) => {
        const r = new EnvelopeReader(12);
        const got: { flags: number; payload: Buffer }[] = [];
        for (const c of splitAt(Buffer.concat(msgs.map(([p, f]) => envelope(p, f))), cuts)) got.push(...(r.push(c) as never[]));
        expect(got.map((m) => [[...m.payload], m.flags])).toEqual(msgs.map(([p, f]) => [[...p], f]));
        expect(r.atBoundary).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("an envelope of exactly the limit passes, one more byte is refused; a partial one leaves it off a boundary", () => {
    expect(new EnvelopeReader(3).push(envelope(Buffer.from("abc")))).toHaveLength(1);
    expect(new EnvelopeReader(3).push(envelope(Buffer.from("abcd")).subarray(0, 5))).toBe(false);
    const r = new EnvelopeReader(3);
    expect(r.push(envelope(Buffer.from("ab")).subarray(0, 4))).toEqual([]);
    expect(r.atBoundary).toBe(false);
    expect(r.push(envelope(Buffer.from("ab")).subarray(4, 6))).toEqual([]);
    const rest = r.push(envelope(Buffer.from("ab")).subarray(6));
    expect(rest).toEqual([{ flags: 0, payload: Buffer.from("ab") }]);
    expect(r.atBoundary).toBe(true);
    const empty = new EnvelopeReader(3).push(envelope(Buffer.alloc(0), 2));
    expect(empty).toEqual([{ flags: 2, payload: Buffer.alloc(0) }]);
  });
});

describe("bridge protocols", () => {
  it("needsBridge: gRPC never; no declared protocols means gRPC only; else the caller's family must be served", () => {
    const GRPC = 1, GRPC_WEB = 2, CONNECT = 3;
    expect(needsBridge("grpc", [])).toBe(false);
    expect(needsBridge("grpc", undefined)).toBe(false);
    for (const p of ["connect-unary", "connect-stream", "grpc-web", "grpc-web-text"] as const) {
      expect(needsBridge(p, undefined)).toBe(true);
      expect(needsBridge(p, [])).toBe(true);
      expect(needsBridge(p, [GRPC])).toBe(true);
      expect(needsBridge(p, [GRPC, GRPC_WEB, CONNECT])).toBe(false);
    }
    expect(needsBridge("connect-unary", [CONNECT])).toBe(false);
    expect(needsBridge("connect-stream", [GRPC_WEB])).toBe(true);
    expect(needsBridge("grpc-web", [CONNECT])).toBe(true);
    expect(needsBridge("grpc-web-text", [GRPC_WEB])).toBe(false);
  });

  it("callerCodec: from the content type by protocol, or from a GET's encoding parameter", () => {
    expect(callerCodec("connect-unary", { "content-type": "Application/JSON; charset=utf-8" }, "/")).toBe("json");
    expect(callerCodec("connect-unary", { "content-type": "application/proto" }, "/")).toBe("proto");
    expect(callerCodec("connect-stream", { "content-type": "application/connect+json" }, "/")).toBe("json");
    expect(callerCodec("grpc-web", { "content-type": "application/grpc-web" }, "/")).toBe("proto");
    expect(callerCodec("grpc-web-text", { "content-type": "application/grpc-web-text+json ; x=1" }, "/")).toBe("json");
    expect(callerCodec("grpc", { "content-type": "application/grpc+proto" }, "/")).toBe("proto");
    expect(callerCodec("connect-unary", {}, "/a.B/C?message=x&encoding=JSON")).toBe("json");
    expect(callerCodec("connect-unary", {}, "/a.B/C?encoding=pro%74o&message=x")).toBe("proto");
    expect(callerCodec("connect-unary", {}, "/a.B/C?message=x&encoding=")).toBe("");
    expect(callerCodec("connect-unary", {}, "/a.B/C?message=x&xencoding=json")).toBe("");
    expect(callerCodec("connect-unary", {}, "/a.B/C?message=x")).toBe("");
  });

  it("bridgeRefusal: proto passes; any other codec is InvalidArgument naming the service and codec", () => {
    expect(bridgeRefusal("connect-unary", { "content-type": "application/proto" }, "/", "kv.v1.KVService")).toBeUndefined();
    const json = bridgeRefusal("connect-unary", { "content-type": "application/json" }, "/", "kv.v1.KVService")!;
    expect(json.code).toBe(Code.InvalidArgument);
    expect(json.rawMessage).toBe(
      "the provider of kv.v1.KVService serves gRPC only and registered no descriptors, so it accepts only the proto codec; call it with binary protobuf (not json) or over gRPC",
    );
    expect(bridgeRefusal("connect-unary", {}, "/a.B/C?message=x", "s")!.rawMessage).toContain("(not an unknown codec)");
  });
});

describe("UnaryCollector", () => {
  it("the one message, with its compressed flag", () => {
    const c = new UnaryCollector(10);
    const e = envelope(Buffer.from("hello"), 1);
    expect(c.push(e.subarray(0, 3))).toBe(true);
    expect(c.push(e.subarray(3))).toBe(true);
    expect(c.single()).toEqual({ payload: Buffer.from("hello"), compressed: true });
    const plain = new UnaryCollector(10);
    plain.push(envelope(Buffer.from("x"), 2));
    expect(plain.single()).toEqual({ payload: Buffer.from("x"), compressed: false });
    const empty = new UnaryCollector(10);
    empty.push(envelope(Buffer.alloc(0)));
    expect(empty.single()).toEqual({ payload: Buffer.alloc(0), compressed: false });
  });

  it("accepts exactly the limit plus the prefix, refuses one byte more", () => {
    const c = new UnaryCollector(4);
    expect(c.push(envelope(Buffer.from("abcd")))).toBe(true);
    const over = new UnaryCollector(4);
    expect(over.push(envelope(Buffer.from("abcde")))).toBe(false);
  });

  it("no message, a partial one or two are Unimplemented protocol errors", () => {
    const none = new UnaryCollector(10).single() as ConnectError;
    expect(none.code).toBe(Code.Unimplemented);
    expect(none.rawMessage).toBe("protocol error: missing output message for unary method");
    const partial = new UnaryCollector(10);
    partial.push(envelope(Buffer.from("abc")).subarray(0, 6));
    expect((partial.single() as ConnectError).rawMessage).toBe("protocol error: missing output message for unary method");
    const short = new UnaryCollector(10);
    short.push(Buffer.from([0, 0, 0]));
    expect((short.single() as ConnectError).rawMessage).toBe("protocol error: missing output message for unary method");
    const two = new UnaryCollector(10);
    two.push(Buffer.concat([envelope(Buffer.from("a")), envelope(Buffer.from("b"))]));
    const err = two.single() as ConnectError;
    expect(err.code).toBe(Code.Unimplemented);
    expect(err.rawMessage).toBe("protocol error: received extra output message for unary method");
  });
});
